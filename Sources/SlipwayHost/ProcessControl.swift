public import Foundation
#if canImport(Glibc)
import Glibc
#endif
import CSlipwaySystem

/// Failure to start a process.
public struct LaunchError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A process that Slipway started: its pid and its start time in clock ticks since boot
/// (from `/proc/<pid>/stat`), which together identify it even after the pid is reused.
public struct ProcessIdentity: Sendable, Hashable, Codable {
    public let pid: Int32
    public let startTime: UInt64

    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }
}

/// Starting, inspecting and stopping detached processes.
public enum ProcessControl {
    /// Starts `spec` in a new session (`posix_spawn` with `POSIX_SPAWN_SETSID`), stdin from
    /// `spec.input` or /dev/null, stdout and stderr appended to `spec.logFile`. The program must already be resolved.
    public static func spawn(_ spec: LaunchSpec, executable: URL) throws -> ProcessIdentity {
        try FileManager.default.createDirectory(at: spec.logFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, spec.input?.path ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, spec.logFile.path, O_WRONLY | O_CREAT | O_APPEND, 0o640)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing Slipway holds (the control socket, the repository lock, libgit2's files, a
        // client connection) reaches a child: HAProxy and instances outlive Slipway.
        slipway_spawn_file_actions_addclosefrom(&actions, 3)
        slipway_spawn_file_actions_addchdir(&actions, spec.workingDirectory.path)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaultSignals, signal) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, slipway_spawn_setsid_flag() | Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable.path] + spec.arguments.dropFirst()).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = spec.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }

        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable.path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw LaunchError("cannot start \(executable.path): \(String(cString: strerror(result)))")
        }
        return ProcessIdentity(pid: pid, startTime: startTime(of: pid) ?? 0)
    }

    /// Clock ticks since boot at which `pid` started (field 22 of `/proc/<pid>/stat`), nil when
    /// there is no such process or it is a zombie.
    public static func startTime(of pid: Int32) -> UInt64? {
        guard let stat = ProcessStat.read(pid), !stat.exited else { return nil }
        return stat.startTime
    }

    /// Whether the process that `identity` names is still running (not reused, not a zombie).
    public static func isRunning(_ identity: ProcessIdentity) -> Bool {
        reap(identity.pid)
        guard let start = startTime(of: identity.pid) else { return false }
        return identity.startTime == 0 || start == identity.startTime
    }

    /// Stops the process group of `identity`: SIGTERM, then SIGKILL once `timeout` has passed.
    /// Returns true when it had to be killed.
    @discardableResult
    public static func stop(_ identity: ProcessIdentity, timeout: Duration) async -> Bool {
        guard isRunning(identity) else { return false }
        signalGroup(identity, SIGTERM)
        if await waitForExit(identity, timeout: timeout) { return false }
        signalGroup(identity, SIGKILL)
        _ = await waitForExit(identity, timeout: .seconds(5))
        return true
    }

    /// Polls until the process is gone or `timeout` passes; true when it is gone.
    public static func waitForExit(_ identity: ProcessIdentity, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while isRunning(identity) {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    private static func signalGroup(_ identity: ProcessIdentity, _ signal: Int32) {
        // Instances lead their own session, so the group id is the pid: this reaches their children too.
        if kill(-identity.pid, signal) != 0 { kill(identity.pid, signal) }
    }

    /// Collects the exit status if `pid` is our own child, so it does not linger as a zombie.
    private static func reap(_ pid: Int32) {
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }
}

extension ProcessControl {
    /// The exit status from a `waitpid` status word, 128 + the signal for a killed process
    /// (WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import).
    public static func exitStatus(fromWait status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

extension ProcessControl {
    /// Processes of this user whose environment holds every one of `entries` (`NAME=value`),
    /// with their whole environment: how instances are found that were started but never
    /// registered (Slipway killed between the two). Reads `/proc/<pid>/environ`.
    public static func processes(withEnvironment entries: [String]) -> [(identity: ProcessIdentity, environment: [String: String])] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        let wanted = entries.map { Array($0.utf8) }
        return pids.compactMap { pid in
            guard pid != getpid(), let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
            let variables = data.split(separator: 0).map(Array.init)
            guard wanted.allSatisfy(variables.contains), let start = startTime(of: pid) else { return nil }
            var environment: [String: String] = [:]
            for variable in variables {
                let text = String(decoding: variable, as: UTF8.self)
                if let equals = text.firstIndex(of: "=") { environment[String(text[..<equals])] = String(text[text.index(after: equals)...]) }
            }
            return (ProcessIdentity(pid: pid, startTime: start), environment)
        }
    }
}
