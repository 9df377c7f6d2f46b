import ArgumentParser
import SlipwayEngine

extension Slipway {
    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "suspend",
            abstract: "Commit a pause of an environment: nothing deploys, heals or repairs it until slipway resume; what runs is left as it is.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var person: PersonOption

        @Option(name: .long, help: "Why, in one line (kept in the manifest and the commit).")
        var reason: String

        @Argument(help: "The environment to suspend.")
        var environment: String

        func validate() throws {
            _ = try environmentNames([environment])
            guard !reason.isEmpty, reason.utf8.count <= 200, reason.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7f }) else { throw ValidationError("--reason must be one line of at most 200 bytes") }
        }

        func run() async throws {
            let repository = try await global.openRepository()
            let author = try await person.resolve(in: repository, doing: "suspends")
            let name = try environmentNames([environment])[0]
            let commit = try await repository.suspend(name, reason: reason, by: author)
            global.stateDirectory(for: repository).rememberOwnCommit(commit)
            print("\(name): suspended (commit \(commit.short)); slipway resume \(name) to go on")
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume", abstract: "Commit the end of a pause (slipway suspend): the environment is reconciled again.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var person: PersonOption

        @Argument(help: "The environment to resume.")
        var environment: String

        func validate() throws { _ = try environmentNames([environment]) }

        func run() async throws {
            let repository = try await global.openRepository()
            let author = try await person.resolve(in: repository, doing: "resumes")
            let name = try environmentNames([environment])[0]
            let commit = try await repository.suspend(name, reason: nil, by: author)
            global.stateDirectory(for: repository).rememberOwnCommit(commit)
            print("\(name): resumed (commit \(commit.short))")
        }
    }
}
