import ArgumentParser
import Foundation
import SlipwayEngine
import SlipwayRecords
import SlipwayCore

extension Slipway {
    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "List deployments, newest first, from the records in the branch's tree.",
            discussion: "With --all, also the records `slipway archive` moved away and record commits whose file is gone.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .long, help: "Show at most this many deployments.")
        var limit: Int?

        @Flag(name: .long, help: "Also read the archive branch and the record commits whose file is gone (slower: reads every commit).")
        var all = false

        @Argument(help: "Only this environment.")
        var environment: String?

        func validate() throws {
            _ = try environmentNames(environment.map { [$0] } ?? [])
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        }

        func run() async throws {
            let repository = try await global.openRepository()
            let entries = try await repository.history(of: try environmentNames(environment.map { [$0] } ?? []).first, limit: limit, all: all)
            if output.json { return try output.print(json: entries) }
            guard !entries.isEmpty else { return print("no deployments yet") }
            var text: [UInt8] = []
            text.reserveCapacity(entries.count * 100)
            // Appended piece by piece: formatting each of 100,000 lines as a string took a tenth of the run.
            func add(_ piece: String) { text.append(contentsOf: piece.utf8) }
            for entry in entries {
                if !Timestamp.appendISO(fromCompact: entry.deployment.rawValue, to: &text) { add(Timestamp.iso(entry.date)) }
                add("  "); add(entry.environment); add("  "); add(entry.service); add(" "); add(entry.previousVersion); add(" → ")
                add(entry.version); add("  "); add(entry.result?.rawValue ?? "?"); add("  "); add(entry.deployment.rawValue)
                add(entry.source == .tip ? "\n" : "  (\(entry.source.rawValue))\n")
            }
            FileHandle.standardOutput.write(Data(text))
        }
    }
}
