import ArgumentParser
import SlipwayEngine
import SlipwayManifest

extension Slipway {
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the manifests in Environments/; errors as path:line:col: message.")

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: "Validate the manifests at this revision (default: the branch tip).")
        var ref: String?

        @Flag(name: .long, help: "Validate the manifests staged in the index (for a pre-commit hook).")
        var staged = false

        func validate() throws {
            if staged && ref != nil { throw ValidationError("--ref and --staged exclude each other") }
        }

        func run() async throws {
            let repository = try await global.openRepository()
            let desired: DesiredState
            if staged {
                desired = try await repository.desiredStaged()
            } else {
                let commit = if let ref { try await repository.git.resolveRevision(ref) } else { try await repository.tip() }
                desired = try await repository.desired(at: commit)
            }
            for diagnostic in desired.environments.diagnostics { print(diagnostic) }
            let valid = desired.environments.manifests.keys.sorted()
            if !desired.environments.diagnostics.isEmpty {
                let files = Set(desired.environments.diagnostics.map(\.path)).count
                printError("\(desired.environments.diagnostics.count) problem(s) in \(files) manifest(s); nothing was deployed")
                throw ExitCode(1)
            }
            if valid.isEmpty {
                printError("no manifests in Environments/ (one file per environment: Environments/<env>.yaml)")
                throw ExitCode(1)
            }
            print("\(valid.count) manifest(s) valid: \(valid.map(\.rawValue).joined(separator: ", "))")
        }
    }
}
