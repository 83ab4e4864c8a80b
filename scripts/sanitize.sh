#!/usr/bin/env bash
# The test suite under AddressSanitizer and ThreadSanitizer (each in its own build folder).
#   scripts/sanitize.sh [address|thread]…      (default: both)
# Any sanitizer report fails the run: ASan stops at the first memory error, TSan's halt_on_error
# makes a data race fatal. Leak checking is off (Foundation and the Swift runtime keep caches for
# the life of the process). AllocationTests skip themselves (LORABOOK_SANITIZER is set): the
# sanitizers replace malloc, so the malloc interposer cannot count. Logs: .build-asan/test.log, .build-tsan/test.log.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
kinds=("$@"); [ ${#kinds[@]} -gt 0 ] || kinds=(address thread)
status=0
for k in "${kinds[@]}"; do
  case "$k" in
    address) dir=.build-asan ;;
    thread) dir=.build-tsan ;;
    *) echo "sanitize: unknown sanitizer '$k' (address or thread)" >&2; exit 64 ;;
  esac
  mkdir -p "$dir"
  echo "sanitize: swift test --sanitize=$k (log: $dir/test.log)" >&2
  if LORABOOK_SANITIZER="$k" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
     swift test --scratch-path "$dir" --sanitize="$k" --disable-swift-testing > "$dir/test.log" 2>&1; then
    grep -E "Executed [0-9]+ tests" "$dir/test.log" | tail -1 >&2
    echo "sanitize: $k clean" >&2
  else
    grep -nE "ERROR: AddressSanitizer|WARNING: ThreadSanitizer|SUMMARY:|error:|Executed [0-9]+ tests" "$dir/test.log" | head -40 >&2
    echo "sanitize: $k FAILED (see $dir/test.log)" >&2
    status=1
  fi
done
exit $status
