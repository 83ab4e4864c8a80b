// A program the tests start (lorabook, bash, sbatch, chromium): spawned with posix_spawn in its own
// process group, its output written to files, waited for with waitpid and a deadline.
//
// Not Foundation's Process: on Linux it learns that a child ended through a socket the child
// inherits, so when the child starts a daemon that keeps the socket (slurmctld, munged), the parent
// never learns it and waitUntilExit blocks forever (swift-corelibs-foundation issue 4795). That hung
// CI once, for its whole 90 minutes. Here every wait has a deadline, after which the whole group is
// killed and the test fails saying so.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class Child {
    let pid: pid_t
    let stdoutFile: URL
    let stderrFile: URL?   // nil: stderr goes to stdoutFile
    private var status: Int32?

    /// Starts `executable ARGS` in `cwd` with exactly `environment`; stdout to a file, stderr to
    /// the same file unless `separateStderr`; stdin from /dev/null. File descriptors other than
    /// 0, 1 and 2 are closed in the child.
    init(_ executable: String, _ args: [String], cwd: URL, environment: [String: String], separateStderr: Bool = false) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("lorabook-child-\(UUID().uuidString)")
        stdoutFile = base.appendingPathExtension("out")
        stderrFile = separateStderr ? base.appendingPathExtension("err") : nil

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if let err = stderrFile {
            posix_spawn_file_actions_addopen(&actions, 2, err.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // glibc's closefrom and chdir actions (2.34, 2.29), which Swift's Glibc module does not declare
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
        guard let closeFrom = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np"),
              let changeDirectory = dlsym(nil, "posix_spawn_file_actions_addchdir_np") else {
            throw NSError(domain: "Child", code: 0, userInfo: [NSLocalizedDescriptionKey: "this C library has no posix_spawn closefrom/chdir actions (glibc 2.34 or later has)"])
        }
        _ = unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 3)
        _ = cwd.path.withCString { unsafeBitCast(changeDirectory, to: ChangeDirectory.self)(&actions, $0) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGPIPE, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + args).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            throw NSError(domain: "Child", code: Int(rc), userInfo: [NSLocalizedDescriptionKey: "cannot start \(executable): \(String(cString: strerror(rc)))"])
        }
        pid = child
    }

    /// Whether it still runs (reaps it when it ended).
    var isRunning: Bool {
        if status != nil { return false }
        var s: Int32 = 0
        let r = waitpid(pid, &s, WNOHANG)
        if r == pid { status = Self.decode(s); return false }
        return r == 0
    }

    func signal(_ s: Int32) { if isRunning { kill(pid, s) } }

    /// Its exit status (128 + N when signal N ended it), or nil when it ran past `timeout` seconds:
    /// then its whole process group was killed.
    func wait(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var pause: useconds_t = 2_000
        while isRunning {
            if Date() >= deadline {
                kill(-pid, SIGKILL)
                var s: Int32 = 0
                _ = waitpid(pid, &s, 0)
                status = Self.decode(s)
                return nil
            }
            usleep(pause)
            pause = min(pause * 2, 100_000)
        }
        return status
    }

    var output: String { (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? String(decoding: (try? Data(contentsOf: stdoutFile)) ?? Data(), as: UTF8.self) }
    var errors: String { stderrFile.map { String(decoding: (try? Data(contentsOf: $0)) ?? Data(), as: UTF8.self) } ?? "" }

    /// Removes the output files.
    func clean() {
        try? FileManager.default.removeItem(at: stdoutFile)
        if let e = stderrFile { try? FileManager.default.removeItem(at: e) }
    }

    private static func decode(_ s: Int32) -> Int32 {
        let signal = s & 0x7f
        return signal == 0 ? (s >> 8) & 0xff : 128 + signal
    }
}
