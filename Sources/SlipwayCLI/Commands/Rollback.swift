import ArgumentParser
import SlipwayEngine
import SlipwayGit

extension Slipway {
    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Commit a rollback of an environment's manifest; the next apply deploys it (instantly when still warm).")

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: "Roll back to the newest manifest in history with this version (default: undo the last change).")
        var to: String?

        @OptionGroup var person: PersonOption

        @Argument(help: "The environment to roll back.")
        var environment: String

        func validate() throws { _ = try environmentNames([environment]) }

        func run() async throws {
            let repository = try await global.openRepository()
            let author = try await person.resolve(in: repository, doing: "rolls back")
            let state = global.stateDirectory(for: repository)
            let rollback = try await repository.rollBack(try environmentNames([environment])[0], to: to, by: author, state: state)
            state.rememberOwnCommit(rollback.commit)
            print("\(environment): committed rollback \(rollback.fromVersion) → \(rollback.toVersion) (commit \(rollback.commit.short)); run slipway apply \(environment) to deploy it")
            if rollback.putBackWhatRuns {
                print("\(environment): \(rollback.fromVersion) never ran here, so this puts back what runs (\(rollback.toVersion)); to go further back, run slipway rollback \(environment) again or use --to VERSION")
            }
        }
    }
}
