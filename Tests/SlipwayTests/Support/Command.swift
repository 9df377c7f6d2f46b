import CSlipwaySystem
import Foundation
import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

/// The output of a finished command.
struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
    var output: String { stdout + stderr }
}

/// Runs programs as argv arrays (never through a shell), with a deadline.
enum Command {
    /// Directory holding the built products (`slipway`, `slipway-demo-service`).
    static let productsDirectory: URL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()

    static var slipway: URL { productsDirectory.appendingPathComponent("slipway") }

    /// Environment for git so commits work without a configured identity.
    static let gitIdentity = [
        "GIT_AUTHOR_NAME": "Pat Person", "GIT_AUTHOR_EMAIL": "pat@example.com",
        "GIT_COMMITTER_NAME": "Pat Person", "GIT_COMMITTER_EMAIL": "pat@example.com",
    ]

    /// Runs a program to completion: posix_spawn, output to temp files, waitpid with a deadline.
    /// (Foundation's Process is not used: inside the test runner it can miss a child's exit.)
    @discardableResult
    static func run(_ executable: URL, _ arguments: [String], environment extra: [String: String] = [:],
                    directory: URL? = nil, input: Data? = nil, timeout: Duration = .seconds(120)) throws -> CommandResult {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-cmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outFile = scratch.appendingPathComponent("out"), errFile = scratch.appendingPathComponent("err")
        let inFile = scratch.appendingPathComponent("in")
        try (input ?? Data()).write(to: inFile)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inFile.path, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if let directory { slipway_spawn_file_actions_addchdir(&actions, directory.path) }

        let environment = ProcessInfo.processInfo.environment.merging(gitIdentity.merging(extra) { _, new in new }) { _, new in new }
        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable.path, &actions, nil, argv, envp)
        guard spawned == 0 else { throw TestFailure("cannot start \(executable.path): \(String(cString: strerror(spawned)))") }

        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if ContinuousClock.now > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw TestFailure("\(executable.lastPathComponent) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
            }
            usleep(10_000)
        }
        let read = { (url: URL) in (try? String(contentsOf: url, encoding: .utf8)) ?? "" }
        let code = ProcessControl.exitStatus(fromWait: status)
        return CommandResult(status: code, stdout: read(outFile), stderr: read(errFile))
    }

    /// A long-running child (a daemon, an sshd): stdin from /dev/null, stdout and stderr to
    /// `log`; `environment` is its whole environment (nil: this process's).
    static func background(_ arguments: [String], environment: [String: String]? = nil, log: URL) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let variables = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { variables.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, variables)
        guard spawned == 0 else { throw TestFailure("cannot start \(arguments[0]): \(String(cString: strerror(spawned)))") }
        return pid
    }

    @discardableResult
    static func slipway(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        try run(slipway, arguments, environment: environment)
    }

    /// Runs git and fails the test when it fails.
    @discardableResult
    static func git(_ arguments: [String], in directory: URL, input: Data? = nil) throws -> String {
        let result = try run(URL(fileURLWithPath: "/usr/bin/git"), arguments, directory: directory, input: input)
        guard result.status == 0 else { throw TestFailure("git \(arguments.joined(separator: " ")) failed (exit \(result.status)): \(result.stderr)\(result.stdout)") }
        return result.stdout
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
