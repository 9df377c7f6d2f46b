public import Foundation

/// A machine of a fleet as the OpenSSH client is asked to reach it.
public struct SSHDestination: Sendable, Hashable, Codable {
    public let host: String
    public let user: String?
    public let port: Int?

    public init(host: String, user: String? = nil, port: Int? = nil) {
        (self.host, self.user, self.port) = (host, user, port)
    }
}

/// A fleet host as an instance registered on this machine remembers it: how to reach it over
/// ssh, the address the balancer sends its traffic to, and the environment's folder there.
public struct RemoteHost: Sendable, Hashable, Codable {
    public let destination: SSHDestination
    public let address: String
    public let directory: String

    public init(destination: SSHDestination, address: String, directory: String) {
        (self.destination, self.address, self.directory) = (destination, address, directory)
    }
}

/// ssh hands its command to the remote user's login shell as one line: every argument is
/// single-quoted for a POSIX shell, a quote inside written as `'\''`, so that an argv array
/// arrives as the same argv array.
public enum RemoteShell {
    public static func quote(_ argument: String) -> String {
        "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    public static func commandLine(_ arguments: [String]) -> String {
        arguments.map(quote).joined(separator: " ")
    }
}

/// The one door to other machines: the OpenSSH client, so that a person's `~/.ssh/config`,
/// agent, `ProxyJump` and `known_hosts` work as they expect. One multiplexed connection per
/// host (ControlMaster, kept 60 s after its last use), strict host key checking, no prompt;
/// with `knownHosts` (host keys pinned in the ops repo) only those keys count.
public struct SSHClient: Sendable {
    /// Where the control sockets are (`<state>/ssh`).
    public let controlDirectory: URL
    public let knownHosts: URL?
    /// Variables ssh needs from Slipway's environment (HOME, SSH_AUTH_SOCK, …).
    public let environment: [String: String]

    public init(controlDirectory: URL, knownHosts: URL? = nil, environment: [String: String]) {
        self.controlDirectory = controlDirectory
        self.knownHosts = knownHosts
        let passed = ["HOME", "USER", "LOGNAME", "PATH", "SSH_AUTH_SOCK"]
        self.environment = environment.filter { passed.contains($0.key) }
    }

    /// ssh's argv for running `remote` (an argv array) on `destination`.
    public func arguments(_ destination: SSHDestination, remote: [String]) -> [String] {
        var arguments = ["ssh", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                         "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2"]
        // A socket path is at most 107 bytes: %C is 40, and a master first binds "<path>.<16 random
        // characters>", 17 more. Past that, each command connects anew.
        // Never a master of the user's own configuration: it may have been opened under other host keys.
        arguments += controlDirectory.path.utf8.count + 58 <= 107
            ? ["-o", "ControlMaster=auto", "-o", "ControlPersist=60s", "-o", "ControlPath=" + Self.quoted(Self.literal(controlDirectory.path) + "/%C")]
            : ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
        if let knownHosts {
            arguments += ["-o", "UserKnownHostsFile=" + Self.quoted(Self.literal(knownHosts.path)), "-o", "GlobalKnownHostsFile=/dev/null",
                          "-o", "KnownHostsCommand=none", "-o", "VerifyHostKeyDNS=no"]
        }
        if let port = destination.port { arguments += ["-p", "\(port)"] }
        if let user = destination.user { arguments += ["-l", user] }
        return arguments + ["--", destination.host, RemoteShell.commandLine(remote)]
    }

    /// Runs `remote` on `destination`; its exit status (255: ssh itself failed; nil: timed out)
    /// and what it printed, stdout and stderr together.
    /// - Parameter input: what the remote command reads on stdin (written to a file of mode 600
    ///   in `controlDirectory` for the call, then removed): how secrets travel, never in argv.
    /// - Parameter inputFile: a file to read on stdin instead (an artifact).
    public func run(_ destination: SSHDestination, _ remote: [String], input: Data? = nil, inputFile: URL? = nil,
                    timeout: Duration) async throws -> (status: Int32?, text: String) {
        try await call(arguments(destination, remote: remote), input: input, inputFile: inputFile, timeout: timeout)
    }

    private func call(_ arguments: [String], input: Data?, inputFile: URL? = nil, timeout: Duration) async throws -> (status: Int32?, text: String) {
        try FileManager.default.createDirectory(at: controlDirectory, withIntermediateDirectories: true)
        let call = controlDirectory.appendingPathComponent("call-\(UUID().uuidString.prefix(8))")
        let output = URL(fileURLWithPath: call.path + ".out"), stdin = URL(fileURLWithPath: call.path + ".in")
        defer {
            try? FileManager.default.removeItem(at: output)
            try? FileManager.default.removeItem(at: stdin)
        }
        if let input {
            guard FileManager.default.createFile(atPath: stdin.path, contents: input, attributes: [.posixPermissions: 0o600]) else {
                throw LaunchError("cannot write \(stdin.path)")
            }
        }
        let spec = LaunchSpec(arguments: arguments, environment: environment, workingDirectory: controlDirectory, logFile: output,
                              input: inputFile ?? (input == nil ? nil : stdin))
        return try await Commands.output(of: spec, executable: URL(fileURLWithPath: "/usr/bin/ssh"), timeout: timeout)
    }

    /// The IPv4 address `destination` is reached at, as ssh resolves it (`ssh -G`: a `Host`
    /// alias of the user's configuration gives its `HostName`): where the balancer on this
    /// machine sends the host's share of the traffic.
    public func address(of destination: SSHDestination) async throws -> String {
        if Self.isIPv4(destination.host) { return destination.host }
        var arguments = arguments(destination, remote: [])
        arguments.insert("-G", at: 1)
        arguments.removeLast()  // no command: -G prints the configuration and exits
        let result = try await call(arguments, input: nil, timeout: .seconds(10))
        let name = result.text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("hostname ") }.map { String($0.dropFirst(9)) } ?? destination.host
        if Self.isIPv4(name) { return name }
        // getent rather than getaddrinfo here: a resolver that does not answer is a command timed out, never a thread held.
        try FileManager.default.createDirectory(at: controlDirectory, withIntermediateDirectories: true)
        let output = controlDirectory.appendingPathComponent("resolve-\(UUID().uuidString.prefix(8)).out")
        defer { try? FileManager.default.removeItem(at: output) }
        let spec = LaunchSpec(arguments: ["getent", "ahostsv4", "--", name], environment: ["PATH": "/usr/bin:/bin", "LANG": "C"],
                              workingDirectory: controlDirectory, logFile: output)
        let found = try await Commands.output(of: spec, executable: URL(fileURLWithPath: "/usr/bin/getent"), timeout: .seconds(10))
        guard found.status == 0, let address = found.text.split(whereSeparator: \.isNewline).first?.split(separator: " ").first.map(String.init),
              Self.isIPv4(address) else {
            throw LaunchError("\(destination.host) (\(name)) has no IPv4 address" + (found.status == nil ? ": no answer from the resolver within 10 s" : ""))
        }
        return address
    }

    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { $0.count <= 3 && UInt8($0) != nil }
    }

    /// A value of an `-o` option in double quotes: ssh splits values at spaces.
    static func quoted(_ value: String) -> String { "\"\(value)\"" }

    /// A path where ssh expands `%` tokens, with its own `%` kept as they are.
    static func literal(_ path: String) -> String { path.replacingOccurrences(of: "%", with: "%%") }
}
