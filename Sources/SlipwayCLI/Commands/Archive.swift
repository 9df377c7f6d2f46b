import ArgumentParser
import Foundation
import SlipwayEngine
import SlipwayRecords
import SlipwayCore

extension Slipway {
    struct Archive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "archive",
            abstract: "Move the records of deployments before a date out of the branch, to the slipway-archive branch.",
            discussion: "For a small checkout. history --all and show still read archived records; push both branches.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var person: PersonOption

        @Option(name: .long, help: "Archive records of deployments that started before this day (YYYY-MM-DD, UTC).")
        var before: String

        @Flag(name: .long, help: "Only say how many records would move.")
        var dryRun = false

        @Argument(help: "Only these environments (default: all).")
        var environments: [String] = []

        func validate() throws {
            _ = try environmentNames(environments)
            guard Self.day(before) != nil else { throw ValidationError("--before must be a day like 2026-01-31") }
        }

        /// The start of a day written `YYYY-MM-DD` (UTC); nil for anything else, 2026-02-30 included.
        static func day(_ text: String) -> Date? {
            guard text.utf8.count == 10, let date = Timestamp.parse(text + "T00:00:00Z"), Timestamp.iso(date).hasPrefix(text) else { return nil }
            return date
        }

        func run() async throws {
            let repository = try await global.openRepository()
            let author = try await person.resolve(in: repository, doing: "archives")
            guard let cutoff = Self.day(before) else { throw ValidationError("--before must be a day like 2026-01-31") }
            let outcome = try await repository.archive(before: cutoff, environments: try environmentNames(environments), by: author, dryRun: dryRun)
            guard !outcome.paths.isEmpty else { return print("no records of deployments before \(before)") }
            guard let archived = outcome.archiveCommit else { return print("\(outcome.paths.count) record(s) would move to slipway-archive") }
            print("\(outcome.paths.count) record(s) moved to slipway-archive (commit \(archived.short)), removed from the branch in \(outcome.branchCommit?.short ?? "—")")
        }
    }
}
