import ArgumentParser
import Foundation
import SlipwayEngine
import SlipwayRecords
import SlipwayCore

extension Slipway {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "Print one deployment's record (the id that history lists).")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        @Flag(name: .long, help: "Print the record file as committed, front matter included.")
        var raw = false

        @Argument(help: "The deployment id, e.g. 20261126T181500.123Z-a1b2c3d.")
        var deployment: String

        @Argument(help: "The environment, when the id names deployments of several.")
        var environment: String?

        func validate() throws {
            _ = try environmentNames(environment.map { [$0] } ?? [])
            guard DeploymentID(deployment) != nil else {
                throw ValidationError("\"\(deployment)\" is not a deployment id (like 20261126T181500.123Z-a1b2c3d; slipway history lists them)")
            }
        }

        func run() async throws {
            let repository = try await global.openRepository()
            guard let id = DeploymentID(deployment) else { throw ValidationError("\"\(deployment)\" is not a deployment id") }
            let found = try await repository.records(withID: id, in: try environmentNames(environment.map { [$0] } ?? []).first)
            guard let record = found.first else {
                throw CommandFailure("no record of deployment \(deployment)\(environment.map { " in \($0)" } ?? "") (slipway history --all lists every one)")
            }
            let environments = Set(found.map(\.environment))
            guard environments.count == 1 else {
                throw ValidationError("deployment \(deployment) has records in \(environments.sorted().joined(separator: " and ")): name the environment")
            }
            if output.json { return try output.print(json: try FrontMatter.parseRecord(record.text)) }
            if raw { return print(Self.printable(record.text), terminator: "") }
            let source = record.source == .tip ? "" : " (\(record.source == .archive ? "archived" : "file removed; from its commit"))"
            print(Self.printable("\(record.path)\(source)"))
            if let front = try? FrontMatter.parseRecord(record.text) {
                print(Self.printable("deployment \(front.deployment), started \(Timestamp.iso(front.started)), finished \(Timestamp.iso(front.finished))"))
                print(Self.printable("trigger \(front.trigger.short) “\(front.triggerSubject)” by \(front.triggerAuthor); manifest \(front.manifest?.short ?? "?")"))
            }
            print("")
            print(Self.printable(Self.readable(record.text)), terminator: "")
        }

        /// A record is text anyone with push access may have written (and log lines an
        /// application printed): control characters other than line breaks and tabs are shown
        /// as `?`, so nothing in it can drive the terminal.
        static func printable(_ text: String) -> String {
            String(String.UnicodeScalarView(text.unicodeScalars.map {
                $0.properties.generalCategory == .control && $0 != "\n" && $0 != "\t" ? "?" : $0
            }))
        }

        /// The record's Markdown body for a terminal: no front matter, folds opened.
        static func readable(_ text: String) -> String {
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if lines.first == "---", let end = lines.dropFirst().firstIndex(of: "---") { lines.removeSubrange(0...end) }
            return lines.compactMap { line -> String? in
                if line == "</details>" { return nil }
                if line.hasPrefix("<details><summary>"), line.hasSuffix("</summary>") {
                    return "## " + line.dropFirst("<details><summary>".count).dropLast("</summary>".count)
                }
                return line
            }.joined(separator: "\n").trimmingCharacters(in: .newlines) + "\n"
        }
    }
}
