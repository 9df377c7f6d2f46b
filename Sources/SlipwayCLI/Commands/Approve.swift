import ArgumentParser
import Foundation
import SlipwayEngine
import SlipwayGit

extension Slipway {
    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "approve",
            abstract: "Commit an approval of an environment's current manifest (for blueGreen autoPromote: false).")

        @OptionGroup var global: GlobalOptions

        @OptionGroup var person: PersonOption

        @Argument(help: "The environment whose desired manifest is approved.")
        var environment: String

        func validate() throws { _ = try environmentNames([environment]) }

        func run() async throws {
            let repository = try await global.openRepository()
            let approver = try await person.resolve(in: repository, doing: "approves")
            let name = try environmentNames([environment])[0]
            let state = global.stateDirectory(for: repository)
            let approval = try await repository.approve(name, by: approver, state: state)
            state.rememberOwnCommit(approval.commit)
            print("\(name): approved \(approval.version) (manifest \(approval.manifest.short)) as \(approval.approver), commit \(approval.commit.short)")
            for item in approval.items { print("    [x] \(item)") }
        }
    }
}
