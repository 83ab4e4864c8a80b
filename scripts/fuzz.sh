#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, with AddressSanitizer) of lorabook's readers of untrusted input:
# the language (lexer, parser, static checks), notebooks, CSV files and safetensors headers.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]      (default: 30 s each, every target)
# Builds Sources/LorabookFuzz into .build-fuzz with -sanitize=fuzzer,address, then runs each target
# on its seed corpus (Fuzz/corpus/TARGET, committed; new inputs go to .build-fuzz/corpus/TARGET, not
# into the repository). A crash, a sanitizer report, a leak-free timeout (-timeout=10 s per input) or
# an out-of-memory (-rss_limit_mb=4096) fails the script and leaves the reproducer in
# .build-fuzz/crashes/TARGET/; replay one with `.build/debug/lorabook-fuzz TARGET FILE`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-30}"; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(language notebook csv safetensors)
swift build --scratch-path .build-fuzz --product lorabook-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING >&2
bin=.build-fuzz/debug/lorabook-fuzz
status=0
for t in "${targets[@]}"; do
  mkdir -p ".build-fuzz/corpus/$t" ".build-fuzz/crashes/$t"
  log=".build-fuzz/fuzz-$t.log"
  echo "fuzz: $t for ${seconds} s" >&2
  if LORABOOK_FUZZ_TARGET="$t" ASAN_OPTIONS=detect_leaks=0 SWIFT_BACKTRACE=enable=no "$bin" ".build-fuzz/corpus/$t" "Fuzz/corpus/$t" \
       -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix=".build-fuzz/crashes/$t/" > "$log" 2>&1; then
    runs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')"
    cov="$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)"
    echo "fuzz: $t: $runs executions, $cov, no crash" >&2
  else
    echo "fuzz: $t FAILED; see $log and .build-fuzz/crashes/$t/" >&2
    tail -40 "$log" >&2
    status=1
  fi
done
exit $status
