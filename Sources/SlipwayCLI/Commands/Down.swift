import ArgumentParser
import Foundation
import SlipwayEngine
import SlipwayManifest
import SlipwayHost
import SlipwayTraffic
import SlipwayCore

extension Slipway {
    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "down",
            abstract: "Stop an environment's instances and HAProxy on this machine (for throw-away repos; records nothing).")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Environments to take down (default: every environment with state here).")
        var environments: [String] = []

        func validate() throws { _ = try environmentNames(environments) }

        func run() async throws {
            let repository = try await global.openRepository()
            let state = global.stateDirectory(for: repository)
            // A running daemon would start the environment again within seconds: it keeps what runs as git says.
            let lock: RepositoryLock
            do {
                lock = try RepositoryLock(file: state.lockFile)
            } catch {
                throw CommandFailure("\(ErrorText.sentence(error)): slipway watch keeps what runs as git says, so down would be undone; stop the daemon first")
            }
            defer { withExtendedLifetime(lock) {} }
            let known = state.knownEnvironments()
            let names = try environmentNames(environments).nonEmpty ?? known
            if let unknown = names.first(where: { !known.contains($0) }) {
                throw CommandFailure("no environment \(unknown) has anything on this machine" + (known.isEmpty ? "" : " (known: \(known.map(\.rawValue).joined(separator: ", ")))"))
            }
            for name in names {
                let (stopped, unreached) = await state.takeDown(name, variables: ProcessInfo.processInfo.environment, logger: .init(label: "slipway"))
                print("\(name): stopped HAProxy and \(stopped) instance(s)"
                      + (unreached.isEmpty ? "" : "; not reached, still registered (run down again once their hosts answer): \(unreached.joined(separator: ", "))"))
            }
        }
    }
}
