import ArgumentParser
import Foundation
import SlipwayCore
import SlipwayEngine
import SlipwayHost
import SlipwayRecords

extension Slipway {
    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "logs",
            abstract: "Print the logs of an environment's instances (those that run, or one with --instance); -f follows them.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: "The environment.")
        var environment: String

        @Option(name: .long, help: "One instance, by the id status and records name (also one that has stopped).")
        var instance: String?

        @Option(name: [.customShort("n"), .long], help: "Lines to print from the end of each log first.")
        var lines = 50

        @Flag(name: [.customShort("f"), .long], help: "Keep printing what the instances write, and the logs of instances that start meanwhile.")
        var follow = false

        func validate() throws {
            _ = try environmentNames([environment])
            if let instance, !Self.isInstanceID(instance) { throw ValidationError("\"\(instance)\" is not an instance id (like web-1a2b3c4d)") }
            guard (0...100_000).contains(lines) else { throw ValidationError("--lines must be between 0 and 100000") }
        }

        /// Letters, digits, `-`, `_` and `.`, not starting with `.`: an id names a file, never a path.
        static func isInstanceID(_ text: String) -> Bool {
            !text.isEmpty && text.utf8.count <= 128 && !text.hasPrefix(".")
                && text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }
        }

        struct Line: Encodable {
            let instance: String
            let line: String
        }

        func run() async throws {
            guard let name = EnvironmentName(environment) else { throw ValidationError("bad environment name") }
            let repository = try await global.openRepository()
            let state = global.stateDirectory(for: repository)
            let redactor = await Self.redactor(for: name, repository: repository, state: state)
            var offsets: [String: UInt64] = [:]
            for (id, file) in logFiles(name, state: state) {
                let tail = LogTail.lastLines(of: file, count: lines)
                emit(tail, of: id, redactor)
                offsets[id] = Self.size(of: file)
            }
            if offsets.isEmpty {
                let what = instance.map { "no log of instance \($0) in \(name)" } ?? "no instance of \(name) runs on this machine"
                if !follow { throw CommandFailure(what) }
                printError("\(what); waiting for one")
            }
            guard follow else { return }
            printError("following \(offsets.count) log(s) of \(name); Ctrl-C stops")
            while true {
                try await Task.sleep(for: .milliseconds(250))
                for (id, file) in logFiles(name, state: state) {
                    let offset = offsets[id] ?? 0
                    let (text, end) = Self.read(file, from: offset)
                    offsets[id] = end
                    emit(text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init), of: id, redactor)
                }
                fflush(nil)
            }
        }

        /// The log of each instance asked for: the one named, or every registered one of the environment on this machine.
        func logFiles(_ name: EnvironmentName, state: StateDirectory) -> [(String, URL)] {
            let folder = state.logs(name)
            if let instance { return FileManager.default.fileExists(atPath: folder.appendingPathComponent("\(instance).log").path) ? [(instance, folder.appendingPathComponent("\(instance).log"))] : [] }
            return state.registry(name).load().filter { $0.host == nil }.map { ($0.id, folder.appendingPathComponent("\($0.id).log")) }
        }

        func emit(_ lines: [String], of id: String, _ redactor: Redactor) {
            for line in lines {
                let text = redactor.redact(line)
                if output.json { try? output.print(json: Line(instance: id, line: text), compact: true) } else { print("\(id) | \(text)") }
            }
        }

        /// Masks the running manifest's secrets, as far as this shell's environment knows them.
        static func redactor(for name: EnvironmentName, repository: OpsRepository, state: StateDirectory) async -> Redactor {
            guard let blob = state.savedStatus(name)?.manifest, let manifest = await repository.manifest(blob: blob, path: name.manifestPath) else {
                return Redactor(secrets: [])
            }
            let environment = ProcessInfo.processInfo.environment
            return Redactor(secrets: manifest.run.secrets.values.compactMap { environment[$0.variable] })
        }

        static func size(of file: URL) -> UInt64 {
            ((try? FileManager.default.attributesOfItem(atPath: file.path)[.size]) as? NSNumber)?.uint64Value ?? 0
        }

        /// What was written after `offset`, up to the last whole line (at most 1 MiB at a time; a
        /// longer line is given in pieces), and where to read from next. A file that shrank
        /// (rotated) is read from its start.
        static func read(_ file: URL, from offset: UInt64) -> (String, UInt64) {
            guard let handle = try? FileHandle(forReadingFrom: file) else { return ("", offset) }
            defer { try? handle.close() }
            let size = (try? handle.seekToEnd()) ?? 0
            let start = size < offset ? 0 : offset
            try? handle.seek(toOffset: start)
            let data = (try? handle.read(upToCount: 1 << 20)) ?? Data()
            guard let lastNewline = data.lastIndex(of: 10) else {
                return data.count < 1 << 20 ? ("", start) : (String(decoding: data, as: UTF8.self) + "\n", start + UInt64(data.count))
            }
            let whole = data[..<(lastNewline + 1)]
            return (String(decoding: whole, as: UTF8.self), start + UInt64(whole.count))
        }
    }
}
