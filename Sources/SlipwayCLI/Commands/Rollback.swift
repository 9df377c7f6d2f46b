import ArgumentParser
import SlipwayEngine
import SlipwayGit

extension Slipway {
    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Commit a rollback of an environment's manifest; the next apply deploys it (instantly when still warm).")

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: "Roll back to the newest manifest in history with this version (default: undo the last change).")
        var to: String?

        @Option(name: .long, help: "Who rolls back, as \"Name <email>\" (default: git's user.name and user.email).")
        var by: String?

        @Argument(help: "The environment to roll back.")
        var environment: String

        func validate() throws {
            _ = try environmentNames([environment])
            if let by, Approve.signature(by) == nil { throw ValidationError("--by must look like \"Name <email>\"") }
        }

        func run() async throws {
            let repository = try await global.openRepository()
            let configured = await repository.git.defaultSignature()
            guard let author = by.flatMap(Approve.signature) ?? configured else {
                throw ValidationError("who rolls back? set git's user.name and user.email, or pass --by \"Name <email>\"")
            }
            let rollback = try await repository.rollBack(try environmentNames([environment])[0], to: to, by: author)
            global.stateDirectory(for: repository).rememberOwnCommit(rollback.commit)
            print("\(environment): committed rollback \(rollback.fromVersion) → \(rollback.toVersion) (commit \(rollback.commit.short)); run slipway apply \(environment) to deploy it")
        }
    }
}
