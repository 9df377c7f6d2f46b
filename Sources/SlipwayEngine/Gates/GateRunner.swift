import SlipwayCore
import Foundation
import SlipwayManifest
import SlipwayRecords
import SlipwayHost

/// Runs the commands a pipeline calls out to (gates, restore, hooks): argv with placeholders,
/// in its own session, bounded by a timeout, output kept in the state directory. They get
/// the deployment's context as `SLIPWAY_*` variables — and no secrets.
struct GateRunner: Sendable {
    let resolver: ExecutableResolver
    let workingDirectory: URL
    /// Where each command's output is kept (`envs/<env>/gates/`).
    let outputDirectory: URL
    let deployment: DeploymentID
    /// Placeholder values (`{commit}`, `{version}`, …).
    let values: [String: String]
    let environment: [String: String]
    let redactor: Redactor

    struct Result {
        /// Exit status, nil when the command timed out.
        let status: Int32?
        /// The last lines of its output (secrets redacted).
        let tail: [String]
        var passed: Bool { status == 0 }
        func explain(_ timeout: TimeSpan) -> String { status.map { "exit \($0)" } ?? "timed out after \(timeout)" }
        /// `<what> failed [in <place>] (exit 1): <last three lines>`.
        func failureReason(_ what: String, in place: String? = nil, timeout: TimeSpan) -> String {
            "\(what) failed\(place.map { " in \($0)" } ?? "") (\(explain(timeout))): \(tail.suffix(3).joined(separator: " / "))"
        }
        /// `exit 0: <last line>`, for a command that passed.
        var detail: String { "exit 0" + (tail.last.map { ": \($0)" } ?? "") }
    }

    /// - Parameter input: the command's stdin (/dev/null when nil).
    func run(_ name: String, _ command: [String], timeout: TimeSpan, extra: [String: String] = [:], input: URL? = nil) async throws -> Result {
        let values = self.values.merging(extra) { _, new in new }
        let arguments = command.map { Placeholders.substitute($0, values) }
        guard let program = arguments.first, let executable = resolver.resolve(program, in: workingDirectory) else {
            throw DeploymentFailure(reason: "\(name): program \"\(command.first ?? "")\" not found")
        }
        let output = outputDirectory.appendingPathComponent("\(deployment)-\(name).log")
        try? FileManager.default.removeItem(at: output)
        let spec = LaunchSpec(arguments: arguments, environment: environment, workingDirectory: workingDirectory, logFile: output, input: input)
        try FileManager.default.createDirectory(at: workingDirectory, withIntermediateDirectories: true)
        let status = try await Commands.run(spec, executable: executable, timeout: timeout.duration)
        return Result(status: status, tail: redactor.redact(lines: LogTail.lastLines(of: output, count: 20)))
    }
}
