import Foundation
import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

/// An error from HAProxy or from talking to it.
public struct TrafficError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Sends lines to HAProxy's runtime API over its unix socket, one connection per exchange
/// (non-interactive mode: HAProxy answers and closes).
public struct RuntimeAPIClient: Sendable {
    public let socketPath: String

    public init(socketPath: String) { self.socketPath = socketPath }

    /// Sends `commands` joined with `;` in one exchange and returns HAProxy's whole answer.
    public func send(_ commands: [String]) throws -> String {
        do {
            let fd = try UnixSocket.connect(socketPath)
            defer { close(fd) }
            return try UnixSocket.exchange(fd, commands.joined(separator: "; ") + "\n")
        } catch let error as LaunchError {
            throw TrafficError("HAProxy runtime API: \(error.description)")
        }
    }

    /// Sends `commands` and throws when HAProxy refuses any of them.
    public func run(_ commands: [String]) throws {
        let answer = try send(commands)
        if RuntimeCommand.isFailure(answer) {
            throw TrafficError("HAProxy refused \"\(commands.joined(separator: "; "))\": \(answer.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
