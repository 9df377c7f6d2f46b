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
            let batches = repository.historyBatches(of: try environmentNames(environment.map { [$0] } ?? []).first, limit: limit)
            if output.json {
                try await Self.writeJSON(batches)
                return
            }
            var empty = true
            for try await batch in batches where !batch.isEmpty {
                empty = false
                var text = ""
                for entry in batch {
                    text += "\(Timestamp.iso(entry.date))  \(entry.environment)  \(entry.service) \(entry.previousVersion) → \(entry.version)  \(entry.result)  \(entry.deployment)  \(entry.commit.prefix(7))\n"
                }
                FileHandle.standardOutput.write(Data(text.utf8))
            }
            if empty { print("no deployments yet") }
        }

        /// One JSON array, written batch by batch as the walk goes.
        static func writeJSON(_ batches: AsyncThrowingStream<[HistoryEntry], any Error>) async throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            var first = true
            FileHandle.standardOutput.write(Data("[".utf8))
            for try await batch in batches where !batch.isEmpty {
                let array = try encoder.encode(batch)
                FileHandle.standardOutput.write(Data((first ? "\n" : ",\n").utf8) + array.dropFirst().dropLast())
                first = false
            }
            FileHandle.standardOutput.write(Data("\n]\n".utf8))
        }
    }
}
