// Commands that show and keep results: print, expect (claims), plot (charts), save (files).
import Foundation
import Model

enum OutputCommands {
    static let all: [CommandSpec] = [print, expect, plot, save]

    static let print = CommandSpec(
        "print", group: "results", summary: "Print values as text, separated by spaces.",
        parameters: [ParameterSpec("values", .list(.any), positional: true, "values to print")],
        variadic: "values",
        examples: ["print \"accuracy:\" 0.4142", "let ranks = [1, 2, 4, 8]\nprint ranks len(ranks)"]
    ) { inv in
        inv.session.emit(.text((try inv.list("values") ?? []).map(\.text).joined(separator: " ")))
        return .none
    }

    /// The operands of the comparisons in a claim, with their values.
    static func operands(_ e: Expr, _ evaluator: Evaluator) -> [(String, Value)] {
        switch e.kind {
        case .binary(let op, let a, let b) where ["and", "or"].contains(op):
            return operands(a, evaluator) + operands(b, evaluator)
        case .binary(let op, let a, let b) where ["<", "<=", ">", ">=", "==", "!="].contains(op):
            return [a, b].compactMap { x in
                if case .number = x.kind { return nil }
                return (try? evaluator.evaluate(x)).map { (x.source, $0) }
            }
        case .unary("not", let x): return operands(x, evaluator)
        default: return []
        }
    }

    static let expect = CommandSpec(
        "expect", group: "results", summary: "Check a claim: an expression that must hold, or an interval against a bound; recorded as passed, failed or inconclusive.",
        detail: """
        A failed claim is not an error: the run goes on and the claim shows as failed (a notebook run then exits with a distinct \
        status). With interval= (a ci() record or [low, high]) and one of within=, above= or below=, the claim is read three \
        ways: it holds when the whole interval meets the bound, fails when the whole interval misses it, and is inconclusive \
        when the interval straddles it.
        """,
        parameters: [
            ParameterSpec("claim", .predicate, positional: true, "an expression that is true or false"),
            ParameterSpec("interval", .any, "a 95% interval: ci(xs), ci(xs, ys) for a paired difference, or [low, high]"),
            ParameterSpec("within", .number, "the interval must lie within ±this (a difference that is negligible)"),
            ParameterSpec("above", .number, "the interval must lie above this"),
            ParameterSpec("below", .number, "the interval must lie below this"),
            ParameterSpec("label", .string, "what is claimed, in words"),
            ParameterSpec("note", .string, "context: the paper's number, the tolerance"),
        ],
        returns: "claim {label, passed, and the compared values}",
        examples: ["let r1 = 0.40\nlet r8 = 0.41\nexpect abs(r1 - r8) <= 0.02 label=\"rank 1 within 2 points of rank 8\"",
                   "let rank1 = [0.41, 0.43, 0.40]\nlet rank8 = [0.42, 0.43, 0.42]\nexpect interval=ci(rank1, rank8) within=0.02 label=\"rank 1 ≈ rank 8\"\n# expect: INCONCLUSIVE"]
    ) { inv in
        if inv.has("interval") { return try intervalClaim(inv) }
        guard let e = inv.predicate("claim") else {
            throw Diagnostic("'expect' needs a claim (an expression) or interval=… with within=, above= or below=", at: inv.call.location,
                             hint: "e.g. `expect acc >= 0.4` or `expect interval=ci(a, b) within=0.02`")
        }
        let evaluator = Evaluator(session: inv.session)
        let v = try evaluator.evaluate(e)
        if case .unknown = v { return .unknown }   // planning: the claim is judged when its runs are trained
        guard case .bool(let passed) = v else {
            throw Diagnostic("a claim must be true or false, this is a \(v.typeName) \(v.literal)", at: e.location, hint: "compare something, e.g. `expect acc >= 0.4`")
        }
        let claim = Claim(label: try inv.string("label") ?? e.source, passed: passed, expression: e.source,
                          values: operands(e, evaluator), detail: try inv.string("note"))
        inv.session.emit(.claim(claim))
        return .claim(claim)
    }

    /// `expect interval=I within=T|above=X|below=X`: holds, fails or is inconclusive.
    static func intervalClaim(_ inv: Invocation) throws -> Value {
        if inv.predicate("claim") != nil { throw Diagnostic("give either a claim or interval=, not both", at: inv.location("interval")) }
        let v = inv.value("interval")!
        if v.dependsOnUnknown { return .unknown }
        var low = 0.0, high = 0.0
        switch v {
        case .record(let r):
            guard case .number(let l)? = r["low"], case .number(let h)? = r["high"] else {
                throw Diagnostic("interval= expects a record with low and high (from ci()), got \(v.literal)", at: inv.location("interval"))
            }
            (low, high) = (l, h)
        case .list(let items) where items.count == 2:
            guard case .number(let l) = items[0], case .number(let h) = items[1] else { fallthrough }
            (low, high) = (l, h)
        default:
            throw Diagnostic("interval= expects ci(…) or [low, high], got \(v.typeName) \(v.literal)", at: inv.location("interval"))
        }
        guard low <= high else { throw Diagnostic("interval= has low \(Value.format(low)) above high \(Value.format(high))", at: inv.location("interval")) }
        let bounds = ["within", "above", "below"].filter { inv.has($0) }
        guard bounds.count == 1 else {
            throw Diagnostic("interval= needs exactly one of within=, above= or below=", at: inv.location("interval"))
        }
        let bound = try inv.number(bounds[0])!
        let holds: Bool, fails: Bool, text: String
        switch bounds[0] {
        case "within":
            guard bound >= 0 else { throw Diagnostic("within= expects a tolerance ≥ 0", at: inv.location("within")) }
            holds = low >= -bound && high <= bound; fails = high < -bound || low > bound; text = "within ±\(Value.format(bound))"
        case "above": holds = low > bound; fails = high < bound; text = "above \(Value.format(bound))"
        default: holds = high < bound; fails = low > bound; text = "below \(Value.format(bound))"
        }
        var values: [(String, Value)] = [("low", .number(low)), ("high", .number(high))]
        if case .record(let r) = v, let m = r["mean"] { values.insert(("mean", m), at: 0) }
        let expression = "interval " + text
        let claim = Claim(label: try inv.string("label") ?? expression, passed: holds, expression: expression, values: values,
                          detail: try inv.string("note"), inconclusive: !holds && !fails, interval: [low, high])
        inv.session.emit(.claim(claim))
        return .claim(claim)
    }

    static let plot = CommandSpec(
        "plot", group: "results", summary: "Chart a table: x and y columns, one line or bar group per series.",
        detail: "Numeric x gives a line or scatter chart (logx=true for ranks); text x gives categories (bars clustered by series). error= adds error bars. At the REPL the chart is drawn in the terminal.",
        parameters: [
            ParameterSpec("data", .any, positional: true, required: true, "a table or a list of records"),
            ParameterSpec("x", .column, required: true, "the x column"),
            ParameterSpec("y", .list(.column), required: true, "the y column (several make several series)"),
            ParameterSpec("series", .column, "a column whose values split the rows into series"),
            ParameterSpec("kind", .choice(Chart.Kind.allCases.map(\.rawValue)), default: "line", "line, bar, scatter, or heatmap (x columns by y rows, coloured by value=)"),
            ParameterSpec("value", .column, "for kind=heatmap: the column of each cell's number (y names the rows)"),
            ParameterSpec("error", .column, "a column of error-bar half-widths (e.g. acc_std)"),
            ParameterSpec("logx", .bool, default: false, "logarithmic x axis (base 2)"),
            ParameterSpec("title", .string, "chart title"),
            ParameterSpec("xlabel", .string, defaultNote: "the x column", "x-axis label"),
            ParameterSpec("ylabel", .string, defaultNote: "the y column", "y-axis label"),
        ],
        returns: "chart",
        examples: ["let t = table()\nfor r in [1, 2, 4, 8] {\n  t += {rank: r, acc: 0.3 + r / 100}\n}\nplot t x=rank y=acc logx=true title=\"rank vs accuracy\""]
    ) { inv in
        let t = try TableCommands.asTable(inv.value("data")!, at: inv.location("data"))
        let x = try inv.string("x")!, ys = try inv.strings("y")!
        if try inv.string("kind") == "heatmap" { return .chart(try heatmap(t, x: x, ys: ys, inv: inv)) }
        if inv.has("value") { throw Diagnostic("value= is for kind=heatmap", at: inv.location("value")) }
        let seriesColumn = try inv.string("series"), errorColumn = try inv.string("error")
        var used: [(String, String)] = [(x, "x")]
        for y in ys { used.append((y, "y")) }
        if let c = seriesColumn { used.append((c, "series")) }
        if let c = errorColumn { used.append((c, "error")) }
        for (c, p) in used where !t.columns.contains(c) {
            throw Diagnostic("the table has no column '\(c)'", at: inv.location(p), hint: Suggestions.didYouMean(c, among: t.columns) ?? "its columns: \(t.columns.joined(separator: ", "))")
        }
        guard !t.rows.isEmpty else { throw Diagnostic("nothing to plot: the table is empty", at: inv.location("data")) }
        let numericX = t.rows.allSatisfy { TableCommands.number($0[x]) != nil }
        var categories: [String] = []
        if !numericX { for r in t.rows { let c = r[x]?.text ?? ""; if !categories.contains(c) { categories.append(c) } } }
        var series: [Chart.Series] = []
        func add(_ name: String, _ row: Record, _ y: String) throws {
            guard let yv = TableCommands.number(row[y]) else { return }
            let xv = numericX ? TableCommands.number(row[x])! : Double(categories.firstIndex(of: row[x]?.text ?? "")!)
            let err = errorColumn.flatMap { TableCommands.number(row[$0]) }
            if let i = series.firstIndex(where: { $0.name == name }) { series[i].points.append((xv, yv, err)) }
            else { series.append(Chart.Series(name: name, points: [(xv, yv, err)], categories: nil)) }
        }
        for row in t.rows {
            for y in ys {
                let name = seriesColumn.map { row[$0]?.text ?? "" }.map { ys.count > 1 ? "\($0) \(y)" : $0 } ?? y
                try add(name, row, y)
            }
        }
        // a chart that would draw nothing is an error, not an empty picture
        guard series.contains(where: { !$0.points.isEmpty }) else {
            throw Diagnostic("nothing to plot: \(ys.count == 1 ? "column '\(ys[0])' has" : "columns \(ys.joined(separator: ", ")) have") no numbers", at: inv.location("y"))
        }
        let logX = try inv.defaulted("logx", inv.bool)
        if logX, numericX, let bad = series.flatMap(\.points).first(where: { $0.x <= 0 }) {
            throw Diagnostic("logx=true needs every x above 0, and column '\(x)' has \(Value.format(bad.x))", at: inv.location("logx"),
                             hint: "drop those rows first (table … where=\(x) > 0) or plot without logx")
        }
        let kind = try inv.defaulted("kind") { try inv.string($0).flatMap(Chart.Kind.init) }
        let chart = Chart(kind: kind, title: try inv.string("title"), xLabel: try inv.string("xlabel") ?? x,
                          yLabel: try inv.string("ylabel") ?? ys.joined(separator: ", "), logX: try inv.defaulted("logx", inv.bool),
                          series: series, categories: numericX ? nil : categories)
        return .chart(chart)
    }

    /// kind=heatmap: rows named by the y column, columns by x, cells by value=.
    static func heatmap(_ t: Table, x: String, ys: [String], inv: Invocation) throws -> Chart {
        guard ys.count == 1, let y = ys.first else { throw Diagnostic("a heatmap takes one y column (the rows' names)", at: inv.location("y")) }
        guard let valueColumn = try inv.string("value") else { throw Diagnostic("kind=heatmap needs value=COLUMN (each cell's number)", at: inv.location("kind")) }
        for (c, p) in [(x, "x"), (y, "y"), (valueColumn, "value")] where !t.columns.contains(c) {
            throw Diagnostic("the table has no column '\(c)'", at: inv.location(p), hint: Suggestions.didYouMean(c, among: t.columns) ?? "its columns: \(t.columns.joined(separator: ", "))")
        }
        var columns: [String] = [], series: [Chart.Series] = []
        for r in t.rows { let c = r[x]?.text ?? ""; if !columns.contains(c) { columns.append(c) } }
        for r in t.rows {
            guard let v = TableCommands.number(r[valueColumn]) else { continue }
            let name = r[y]?.text ?? "", xi = Double(columns.firstIndex(of: r[x]?.text ?? "")!)
            if let i = series.firstIndex(where: { $0.name == name }) { series[i].points.append((xi, v, nil)) }
            else { series.append(Chart.Series(name: name, points: [(xi, v, nil)], categories: nil)) }
        }
        guard !series.isEmpty else { throw Diagnostic("nothing to plot: column '\(valueColumn)' has no numbers", at: inv.location("value")) }
        return Chart(kind: .heatmap, title: try inv.string("title"), xLabel: try inv.string("xlabel") ?? x, yLabel: try inv.string("ylabel") ?? y,
                     logX: false, series: series, categories: columns)
    }

    static func json(_ v: Value) -> Any {
        switch v {
        case .none: return NSNull()
        case .number(let n): return n.isFinite ? n : NSNull()
        case .string(let s): return s
        case .bool(let b): return b
        case .list(let l): return l.map(json)
        case .record(let r): return Dictionary(r.fields.map { ($0.0, json($0.1)) }, uniquingKeysWith: { a, _ in a })
        case .table(let t): return t.rows.map { json(.record($0)) }
        default: return v.literal
        }
    }

    static let save = CommandSpec(
        "save", group: "results", summary: "Save a table (.csv, .tsv, .json), a chart (.svg, .txt, or its data as .csv) or a run (.safetensors, or a PEFT folder with format=peft) to a file, atomically.",
        detail: "format=peft writes a run's LoRA or DoRA adapters as PEFT's adapter folder (adapter_config.json + adapter_model.safetensors), with a pooled head (train … head=pooled) as BertForSequenceClassification's classifier: PeftModel.from_pretrained loads it (docs/interop.md).",
        parameters: [
            ParameterSpec("value", .any, positional: true, required: true, "a table, chart or run"),
            ParameterSpec("path", .string, positional: true, required: true, "the file (its extension picks the format), or the folder for format=peft"),
            ParameterSpec("format", .choice(["lorabook", "peft"]), default: "lorabook", "for a run: one lorabook .safetensors file, or a PEFT adapter folder"),
        ],
        examples: ["let t = table()\nt += {rank: 1, acc: 0.3}\nsave t \"/tmp/lorabook-example.csv\"",
                   "model\nlora rank=2 targets=attention\nlet r = train sst limit=32 head=pooled\nsave r \"/tmp/lorabook-example-peft\" format=peft\nlet back = load \"/tmp/lorabook-example-peft\" task=sst\nprint back.rank\n# expect: 2"]
    ) { inv in
        let v = inv.value("value")!
        let path = try inv.string("path")!
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension.lowercased()
        if try inv.string("format") == "peft" {
            guard case .run(let r) = v else { throw Diagnostic("format=peft saves a run, not a \(v.typeName)", at: inv.location("value")) }
            try inv.at("format") { try PeftFolder.save(r.network, to: url) }
            inv.session.writtenFiles.append(url.standardizedFileURL.path)
            return .none
        }
        let data: Data
        switch (v, ext) {
        case (.table(let t), "csv"): data = Data(t.csv().utf8)
        case (.table(let t), "tsv"): data = Data(t.tsv().utf8)
        case (.chart(let c), "csv"): data = Data(c.data.csv().utf8)
        case (.table, "json"), (.record, "json"), (.list, "json"):
            data = try JSONSerialization.data(withJSONObject: json(v), options: [.prettyPrinted, .sortedKeys])
        case (.chart(let c), "svg"), (.chart(let c), "txt"):
            do { data = Data(try Gnuplot.render(c, format: ext == "svg" ? .svg(width: 640, height: 400) : .text(width: 80, height: 25)).utf8) }
            catch { throw Diagnostic("\(error)", at: inv.call.location) }
        case (.run(let r), "safetensors"):
            try inv.at("path") { try AdapterFile.save(r.network, to: url) }
            inv.session.writtenFiles.append(url.standardizedFileURL.path)
            return .none
        default:
            throw Diagnostic("cannot save a \(v.typeName) as .\(ext)", at: inv.location("path"),
                             hint: "tables: .csv, .tsv, .json; charts: .svg, .txt, .csv (its data); runs: .safetensors, or a folder with format=peft")
        }
        try inv.at("path") { try AtomicFile.write(data, to: url) }
        inv.session.writtenFiles.append(url.standardizedFileURL.path)
        return .none
    }
}
