import ArgumentParser
import Foundation
import SlipwayEngine
import SlipwayGit
import SlipwayManifest
import SlipwayCore

extension Slipway {
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Validate the manifests in Environments/; errors as path:line:col: message.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .long, help: "Validate the manifests at this revision (default: the branch tip).")
        var ref: String?

        @Flag(name: .long, help: "Validate the manifests staged in the index (for a pre-commit hook).")
        var staged = false

        @Option(name: .long, help: "Validate the *.yaml files of this folder instead of git (for a pre-receive hook).")
        var dir: String?

        @Flag(name: .long, help: "No manifests at all is fine (for hooks).")
        var allowEmpty = false

        @Option(name: .long, help: "With --ref: also check that every commit the push brings that changes Environments/, Trust/, Templates/ or Approvals/ is signed as Trust/ requires (for a pre-receive hook; the value is the ref's old commit, zeros for a new ref).")
        var signedSince: String?

        @Option(name: .long, help: "With --signed-since: the ref the push updates; a branch may not take trusted files back to content it replaced.")
        var refName: String?

        func validate() throws {
            if [staged, ref != nil, dir != nil].filter({ $0 }).count > 1 { throw ValidationError("--ref, --staged and --dir exclude each other") }
            if signedSince != nil && ref == nil { throw ValidationError("--signed-since needs --ref") }
        }

        func run() async throws {
            if let dir {
                return try report(EnvironmentSet(files: Self.files(in: dir)))
            }
            let repository = try await global.openRepository()
            let desired: DesiredState
            var notifications: ObjectID?
            if staged {
                // `git commit -a` stages into a temporary index and names it in GIT_INDEX_FILE (relative
                // to the work tree, where hooks run).
                let indexFile = ProcessInfo.processInfo.environment["GIT_INDEX_FILE"].map { URL(fileURLWithPath: $0).path }
                desired = try await repository.desiredStaged(indexFile: indexFile)
                let folder = OpsRepository.sharedNotify.split(separator: "/")
                notifications = try await repository.git.stagedEntries(under: String(folder[0]), indexFile: indexFile).first { $0.name == folder[1] }?.id
            } else {
                let commit = if let ref { try await repository.git.resolveRevision(ref) } else { try await repository.tip() }
                desired = try await repository.desired(at: commit)
                notifications = try await repository.git.blobID(at: OpsRepository.sharedNotify, in: commit)
                if signedSince != nil {
                    // Every commit the push brings that no ref has yet (the hook runs before git updates the refs).
                    var old: ObjectID?  // nil for a new ref (git passes zeros)
                    if let since = signedSince, !since.allSatisfy({ $0 == "0" }) { old = try await repository.git.resolveRevision(since) }
                    let refusals = try await repository.unsignedChanges(to: commit, over: old, movesBranch: old != nil && refName?.hasPrefix("refs/heads/") == true,
                                                                        state: global.stateDirectory(for: repository))
                    for refusal in refusals { printError("refused: \(refusal)") }
                    if !refusals.isEmpty {
                        try? report(desired.environments)
                        throw ExitCode(1)
                    }
                }
            }
            try report(desired.environments, also: try await Self.problems(ofNotifications: notifications, in: repository))
        }

        /// What is wrong with `Notifications/all.yaml` (`blob`), read as the daemon reads it: a file
        /// that does not parse is not used, so it is refused here, before it is pushed.
        static func problems(ofNotifications blob: ObjectID?, in repository: OpsRepository) async throws -> [Diagnostic] {
            guard let blob else { return [] }
            let path = OpsRepository.sharedNotify
            guard let data = try await repository.git.readBlob(blob, maximumBytes: ManifestParser.maximumSize) else {
                return [Diagnostic(path: path, line: 1, column: 1, message: "larger than \(ManifestParser.maximumSize / 1024) KiB")]
            }
            do {
                _ = try ManifestParser.parseNotify(data, path: path)
                return []
            } catch {
                return error.diagnostics
            }
        }

        struct Report: Encodable {
            let valid: [String]
            let problems: [Problem]
        }

        struct Problem: Encodable {
            let path: String
            let line: Int
            let column: Int
            let message: String
        }

        func report(_ environments: EnvironmentSet, also other: [Diagnostic] = []) throws {
            let valid = environments.manifests.keys.sorted()
            let diagnostics = environments.diagnostics + other
            if output.json {
                try output.print(json: Report(valid: valid.map(\.rawValue), problems: diagnostics.map {
                    Problem(path: $0.path, line: $0.line, column: $0.column, message: $0.message)
                }))
                if !diagnostics.isEmpty || (valid.isEmpty && !allowEmpty) { throw ExitCode(1) }
                return
            }
            for diagnostic in diagnostics { print(diagnostic) }
            if !diagnostics.isEmpty {
                let files = Set(diagnostics.map(\.path)).count
                fflush(nil)  // the diagnostics (stdout) before the summary (stderr) when both go to one place
                printError("\(diagnostics.count) problem(s) in \(files) file(s)")
                throw ExitCode(1)
            }
            if valid.isEmpty {
                if allowEmpty { return }
                printError("no manifests in Environments/ (one file per environment: Environments/<env>.yaml)")
                throw ExitCode(1)
            }
            // Named up to a screenful: a push to an ops repo of thousands should not print them all.
            let named = valid.prefix(Self.namedAtMost).map(\.rawValue).joined(separator: ", ")
            print("\(valid.count) manifest(s) valid: \(named)\(valid.count > Self.namedAtMost ? " and \(valid.count - Self.namedAtMost) more" : "")")
        }

        static let namedAtMost = 20

        /// The manifests of a folder, named `Environments/<file>` as in the repository.
        static func files(in directory: String) throws -> [ManifestFile] {
            let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            return try names.sorted().filter(EnvironmentSet.isRead).map { name in
                let url = URL(fileURLWithPath: directory).appendingPathComponent(name)
                let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
                // The parser refuses oversized files by their size; past 64 MiB only the start is read.
                let data = size <= 64 << 20 ? try Data(contentsOf: url)
                    : try FileHandle(forReadingFrom: url).read(upToCount: ManifestParser.maximumSize + 1) ?? Data()
                return ManifestFile(path: "Environments/\(name)", data: data)
            }
        }
    }
}
