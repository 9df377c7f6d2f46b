import ArgumentParser
import Foundation
import SlipwayBundle
import SlipwayEngine

extension Slipway {
    struct HooksCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hooks", abstract: "Git hooks that validate manifests and wake the daemon.", subcommands: [Install.self])

        struct Install: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "install",
                abstract: "Install pre-commit and post-merge (or, with --server, pre-receive and post-receive) into the repository.")

            @OptionGroup var global: GlobalOptions

            @Flag(name: .long, help: "Install the server-side hooks (into the bare repository people push to).")
            var server = false

            @Flag(name: .long, help: "Replace hooks that Slipway did not write.")
            var force = false

            @Option(name: .long, help: ArgumentHelp("With --server: also wake the daemon of this repository on every push (a daemon in remote mode keeps its own clone: give its path). Repeatable.", valueName: "path"))
            var notify: [String] = []

            func validate() throws {
                if !notify.isEmpty && !server { throw ValidationError("--notify is for the server's hooks: pass --server too") }
                // The hook reads the list from the repository's own state directory, the default one.
                if !notify.isEmpty && global.stateDir != nil { throw ValidationError("--notify works with the repository's default state directory only") }
            }

            func run() async throws {
                let repository = try await global.openRepository()
                guard let binary = GlobalOptions.ownDirectory?.appendingPathComponent("slipway").path else {
                    throw ValidationError("cannot tell where the slipway binary is")
                }
                if !notify.isEmpty {  // before the hooks: a list it refuses leaves them as they were
                    let absolute = notify.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
                    try global.stateDirectory(for: repository).notifyAlso(absolute)
                    print("a push here also wakes the daemon of \(absolute.joined(separator: ", "))")
                }
                let names = server ? ["pre-receive", "post-receive"] : ["pre-commit", "post-merge"]
                let folder = repository.git.gitDirectory.appendingPathComponent("hooks")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for name in names {
                    let target = folder.appendingPathComponent(name)
                    if let existing = try? String(contentsOf: target, encoding: .utf8), !existing.contains("Slipway"), !force {
                        throw ValidationError("\(target.path) exists and is not Slipway's; pass --force to replace it")
                    }
                    let text = (Defaults.hooks[name] ?? "").replacingOccurrences(of: "@SLIPWAY@", with: binary)
                    try Data(text.utf8).write(to: target, options: .atomic)
                    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: target.path)
                    print("installed \(target.path)")
                }
                // The server's root is what it holds now, never what a later push brings.
                if server, let head = try await repository.git.resolve(ref: "HEAD"),
                   let version = try await repository.pinTrustIfUnpinned(at: head, state: global.stateDirectory(for: repository)) {
                    print("this server trusts Trust/ \(version.tree.prefix(7)): \(version.signers.joined(separator: ", "))")
                }
            }
        }
    }
}
