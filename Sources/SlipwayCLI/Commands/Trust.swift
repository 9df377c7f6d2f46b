import ArgumentParser
import Foundation
import SlipwayEngine

extension Slipway {
    struct TrustCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "trust", abstract: "The root of trust of this machine: which Trust/ it judges signatures by.",
            subcommands: [Pin.self, Show.self])

        struct Pin: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "pin",
                abstract: "Trust the Trust/ folder of a commit on this machine (give a new machine its root rather than let it trust what it sees first).")

            @OptionGroup var global: GlobalOptions

            @Flag(name: .long, help: "Replace a different root this machine trusts already.")
            var replace = false

            @Flag(name: .long, help: "Do nothing when this machine has a root already (for the post-receive hook).")
            var ifUnpinned = false

            @Argument(help: "The commit whose Trust/ is the root (default: the branch tip). Check the fingerprints it prints.")
            var revision: String?

            func run() async throws {
                let repository = try await global.openRepository()
                let state = global.stateDirectory(for: repository)
                let commit = if let revision { try await repository.git.resolveRevision(revision) } else { try await repository.tip() }
                let pinned = ifUnpinned ? try await repository.pinTrustIfUnpinned(at: commit, state: state)
                    : try await repository.pinTrust(at: commit, state: state, replace: replace)
                guard let version = pinned else { return }
                print("this machine trusts Trust/ \(version.tree.prefix(7)) of \(commit.short); its signers:")
                version.signers.forEach { print("  \($0)") }
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "show", abstract: "List the versions of Trust/ this machine trusts, its root first.")

            @OptionGroup var global: GlobalOptions

            func run() async throws {
                let repository = try await global.openRepository()
                let versions = try await repository.trustedVersions(state: global.stateDirectory(for: repository))
                guard !versions.isEmpty else { return print("no root of trust: nothing is checked while the ops repo has no Trust/") }
                for (index, version) in versions.enumerated() {
                    print("\(index == 0 ? "root" : "then") Trust/ \(version.tree.prefix(7)): \(version.signers.joined(separator: ", "))")
                }
            }
        }
    }
}
