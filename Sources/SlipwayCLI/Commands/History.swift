import ArgumentParser
import Foundation
import SlipwayEngine
import SlipwayRecords

extension Slipway {
    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List deployments from git history (commit trailers), newest first.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .long, help: "Show at most this many deployments.")
        var limit: Int?

        @Argument(help: "Only this environment.")
        var environment: String?

        func validate() throws {
            _ = try environmentNames(environment.map { [$0] } ?? [])
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        }

        func run() async throws {
            let repository = try await global.openRepository()
            let entries = try await repository.history(of: environmentNames(environment.map { [$0] } ?? []).first, limit: limit)
            if output.json { return try output.print(json: entries) }
            if entries.isEmpty { print("no deployments yet") }
            for entry in entries {
                print("\(Timestamp.iso(entry.date))  \(entry.environment)  \(entry.service) \(entry.previousVersion) → \(entry.version)  \(entry.result)  \(entry.deployment)  \(entry.commit.prefix(7))")
            }
        }
    }
}
