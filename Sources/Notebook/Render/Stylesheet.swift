// The report's content security policy and its one stylesheet (inline: the report is one file).
import Foundation

extension HTMLRenderer {
    /// Every report forbids script, frames, plugins, forms and any network load: only its own inline
    /// styles and data: images and fonts, so that anything that slipped through still cannot run.
    public static let contentSecurityPolicy = "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; object-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'none'"

    static let css = """
    :root { color-scheme: light dark; --bg: #ffffff; --fg: #1d1f23; --muted: #5f6670; --line: #d9dde3; --card: #f6f8fa;
      --ok: #1a7f37; --fail: #cf222e; --warn: #9a6700; --link: #0969da; }
    @media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --fg: #e6edf3; --muted: #8d96a0; --line: #30363d; --card: #161b22;
      --ok: #3fb950; --fail: #f85149; --warn: #d29922; --link: #58a6ff; } }
    * { box-sizing: border-box; }
    body { margin: 0; background: var(--bg); color: var(--fg); font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; }
    main { max-width: 60rem; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
    a { color: var(--link); }
    h1.title { margin: 0 0 .25rem; font-size: 2rem; }
    .author { color: var(--muted); margin: 0 0 1rem; }
    h2 { margin-top: 2.2rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
    h1 a.anchor, h2 a.anchor, h3 a.anchor, h4 a.anchor { color: var(--muted); text-decoration: none; font-weight: normal; opacity: .4; }
    code, pre { font: 13.5px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
    pre { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; overflow-x: auto; }
    table { border-collapse: collapse; margin: .6rem 0; }
    th, td { border: 1px solid var(--line); padding: .25rem .6rem; text-align: left; vertical-align: top; }
    td.num { text-align: right; font-variant-numeric: tabular-nums; }
    table.facts th { color: var(--muted); font-weight: normal; }
    table.metrics caption, table.data caption { caption-side: top; text-align: left; color: var(--muted); font-size: .9rem; }
    .table-wrap { overflow-x: auto; }
    .badge { padding: .05rem .5rem; border-radius: 1rem; color: #fff; font-size: .85rem; }
    .badge.ok { background: var(--ok); } .badge.fail { background: var(--fail); } .badge.warn { background: var(--warn); }
    .banner.fail { border: 2px solid var(--fail); border-radius: 6px; padding: .75rem 1rem; margin: 1rem 0; }
    .scorecard tr.pass td:first-child { color: var(--ok); font-weight: bold; } .scorecard tr.fail td:first-child { color: var(--fail); font-weight: bold; } .scorecard tr.inconclusive td:first-child { color: #b58900; font-weight: bold; }
    nav.toc ul { list-style: none; padding-left: 0; } nav.toc li.l2 { padding-left: 1rem; } nav.toc li.l3 { padding-left: 2rem; }
    section.cell { border-left: 3px solid var(--line); padding-left: .9rem; margin: 1.2rem 0; }
    section.cell.fail { border-left-color: var(--fail); } section.cell.warn { border-left-color: var(--warn); }
    details.source summary, div.source.hidden { cursor: pointer; color: var(--muted); font-size: .85rem; }
    .cell-name { font-family: ui-monospace, monospace; }
    pre.error { border-color: var(--fail); color: var(--fail); }
    .claim { padding: .35rem .6rem; border-radius: 6px; margin: .4rem 0; border: 1px solid var(--line); }
    .claim.pass { border-color: var(--ok); } .claim.fail { border-color: var(--fail); font-weight: 600; } .claim.inconclusive { border-color: #b58900; }
    .warning { color: var(--warn); margin: .4rem 0; }
    figure.chart { margin: .8rem 0; background: #ffffff; border: 1px solid var(--line); border-radius: 6px; padding: .4rem; }
    figure.chart svg { max-width: 100%; height: auto; display: block; margin: 0 auto; }
    p.data-link { margin: 0.2em 0 1em; font-size: 0.85em; text-align: right; }
    footer { margin-top: 3rem; color: var(--muted); font-size: .85rem; }
    @media print { details.source { display: none; } body { font-size: 11pt; } section.cell { break-inside: avoid; }
      figure.chart { border: none; } a { color: inherit; text-decoration: none; } }
    """
}
