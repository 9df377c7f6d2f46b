import ArgumentParser
import Foundation
import Logging
import SlipwayEngine
import SlipwayGit
import SlipwayManifest
import SlipwayHost
import SlipwayCore

/// Flags every command that works on an ops repo takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The ops repository (a working tree or a bare repository).")
    var repo: String = "."

    @Option(name: .long, help: "The tracked branch (default: the branch HEAD points at).")
    var branch: String?

    @Option(name: .long, help: "Slipway's state directory (default: <git dir>/slipway).")
    var stateDir: String?

    @Option(name: .long, help: "Log level of Slipway's own log on stderr.")
    var logLevel: LogLevel = .warning

    enum LogLevel: String, ExpressibleByArgument, CaseIterable {
        case trace, debug, info, notice, warning, error

        var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .warning }
    }

    var logger: Logger {
        var logger = Logger(label: "slipway")
        logger.logLevel = logLevel.level
        return logger
    }

    func openRepository() async throws -> OpsRepository {
        try await OpsRepository.open(path: repo, branch: branch)
    }

    /// The state directory found from the paths alone, without opening the repository (what a
    /// hook's `slipway notify` needs, kept fast); nil when `--repo` is not a git directory or a
    /// working tree's top.
    var stateDirectoryByPath: StateDirectory? {
        if let stateDir { return StateDirectory(root: URL(fileURLWithPath: stateDir)) }
        return Self.defaultStateDirectory(ofRepositoryAt: repo)
    }

    /// The default state directory of the repository at `path` (a git directory or a working
    /// tree's top), found from the paths alone; nil when `path` is neither.
    static func defaultStateDirectory(ofRepositoryAt path: String) -> StateDirectory? {
        let root = URL(fileURLWithPath: path)
        let fileManager = FileManager.default
        for gitDirectory in [root, root.appendingPathComponent(".git")]
        where fileManager.fileExists(atPath: gitDirectory.appendingPathComponent("HEAD").path)
            && fileManager.fileExists(atPath: gitDirectory.appendingPathComponent("objects").path) {
            return StateDirectory(root: gitDirectory.appendingPathComponent("slipway"))
        }
        return nil
    }

    func stateDirectory(for repository: OpsRepository) -> StateDirectory {
        if let stateDir { return StateDirectory(root: URL(fileURLWithPath: stateDir)) }
        return StateDirectory(root: repository.git.gitDirectory.appendingPathComponent("slipway"))
    }

    func engine(_ repository: OpsRepository, progress: any ProgressReporter = SilentProgress(),
                environment: [String: String] = ProcessInfo.processInfo.environment) -> Engine {
        Engine(repository: repository, configuration: EngineConfiguration(
            state: stateDirectory(for: repository), environment: environment,
            resolver: ExecutableResolver.standard(extra: Self.ownDirectory.map { [$0] } ?? []),
            logger: logger, progress: progress))
    }

    /// The directory of the `slipway` binary: programs shipped beside it (such as
    /// `slipway-demo-service`) are found there first.
    static var ownDirectory: URL? {
        Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent()
    }
}

/// `--json` for commands whose output is data.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    /// - Parameter compact: one document on one line (for streams: `logs -f`, `status --watch`).
    func print(json value: some Encodable, compact: Bool = false) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = compact ? [.sortedKeys, .withoutEscapingSlashes] : [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        Swift.print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// Writes to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Environment names from arguments, as a usage error when one is malformed.
func environmentNames(_ arguments: [String]) throws -> [EnvironmentName] {
    try arguments.map { argument in
        guard let name = EnvironmentName(argument) else {
            throw ValidationError("\"\(argument)\" is not an environment name (\(EnvironmentName.rule))")
        }
        return name
    }
}


/// `--by "Name <email>"` for commands that commit as the person who runs them.
struct PersonOption: ParsableArguments {
    @Option(name: .long, help: "Who does it, as \"Name <email>\" (default: git's user.name and user.email).")
    var by: String?

    func validate() throws {
        if let by, Self.signature(by) == nil { throw ValidationError("--by must look like \"Name <email>\"") }
    }

    static func signature(_ text: String) -> Signature? {
        guard let open = text.firstIndex(of: "<"), text.hasSuffix(">") else { return nil }
        let name = text[..<open].trimmingCharacters(in: .whitespaces)
        let email = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
        return name.isEmpty || email.isEmpty ? nil : Signature(name: name, email: email)
    }

    /// `--by`, else who git would name: `GIT_AUTHOR_NAME` and `GIT_AUTHOR_EMAIL`, then
    /// `user.name` and `user.email` (each part on its own, as git resolves them).
    func resolve(in repository: OpsRepository, doing what: String,
                 environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> Signature {
        let configured = await repository.git.defaultSignature()
        let name = environment["GIT_AUTHOR_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? configured?.name
        let email = environment["GIT_AUTHOR_EMAIL"].flatMap { $0.isEmpty ? nil : $0 } ?? configured?.email
        let fromGit = name.flatMap { name in email.map { Signature(name: name, email: $0) } }
        guard let person = by.flatMap(Self.signature) ?? fromGit else {
            throw ValidationError("who \(what)? set git's user.name and user.email, or pass --by \"Name <email>\"")
        }
        return person
    }
}

/// A command that could not do what it was asked (exit status 1), as opposed to a usage error.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
