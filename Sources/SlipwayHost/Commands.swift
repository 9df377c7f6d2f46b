public import Foundation
import Subprocess
import SystemPackage

/// Commands that run to completion (gates, hooks, `haproxy -D`, git, ssh-keygen, gpgv), through
/// swift-subprocess: the exit is awaited, not polled, and no thread is blocked meanwhile.
/// Detached instances are started by `ProcessControl.spawn` instead: they must outlive Slipway,
/// which a subprocess awaited (and torn down when its task is cancelled) must not.
public enum Commands {
    /// Runs `spec` in a session of its own, stdin from `spec.input` or /dev/null, stdout and
    /// stderr appended to `spec.logFile`. When `timeout` passes, its whole process group is
    /// killed. Returns the exit status (128 + the signal for a killed process), nil on timeout.
    public static func run(_ spec: LaunchSpec, executable: URL, timeout: Duration) async throws -> Int32? {
        try FileManager.default.createDirectory(at: spec.logFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        return try await withThrowingTaskGroup(of: Int32?.self) { group in
            group.addTask { try await runToEnd(spec, executable: executable) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }  // the command's task, when the timeout won: its teardown kills the group
            return try await group.next() ?? nil
        }
    }

    /// Runs `spec` like `run(_:executable:timeout:)`, with its log file emptied first, and
    /// returns the exit status (nil on timeout) and what it printed: the last MiB at most (a
    /// command on another machine may print without end).
    public static func output(of spec: LaunchSpec, executable: URL, timeout: Duration) async throws -> (status: Int32?, text: String) {
        try? FileManager.default.removeItem(at: spec.logFile)
        let status = try await run(spec, executable: executable, timeout: timeout)
        guard let file = try? FileHandle(forReadingFrom: spec.logFile) else { return (status, "") }
        defer { try? file.close() }
        let size = (try? file.seekToEnd()) ?? 0
        try? file.seek(toOffset: size > 1 << 20 ? size - (1 << 20) : 0)
        return (status, String(decoding: (try? file.readToEnd()) ?? Data(), as: UTF8.self))
    }

    private static func runToEnd(_ spec: LaunchSpec, executable: URL) async throws -> Int32 {
        let log = try FileDescriptor.open(FilePath(spec.logFile.path), .writeOnly, options: [.create, .append],
                                          permissions: [.ownerReadWrite, .groupRead])
        let input = try FileDescriptor.open(FilePath(spec.input?.path ?? "/dev/null"), .readOnly)
        var options = PlatformOptions()
        options.createSession = true  // its own process group, so that a timeout reaches what it started
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .seconds(1))]
        let environment = spec.environment.sorted { $0.key < $1.key }.map { Array("\($0.key)=\($0.value)\0".utf8) }
        let result = try await Subprocess.run(
            .path(FilePath(executable.path)), arguments: Arguments(Array(spec.arguments.dropFirst())),
            environment: .custom(environment), workingDirectory: FilePath(spec.workingDirectory.path),
            platformOptions: options, input: .fileDescriptor(input, closeAfterSpawningProcess: true),
            output: .fileDescriptor(log, closeAfterSpawningProcess: true), error: .combinedWithOutput)
        switch result.terminationStatus {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }
}
