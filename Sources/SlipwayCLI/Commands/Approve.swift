import ArgumentParser
import Foundation
import SlipwayEngine
import SlipwayGit

extension Slipway {
    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Commit an approval of an environment's current manifest (for blueGreen autoPromote: false).")

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: "Who approves, as \"Name <email>\" (default: git's user.name and user.email).")
        var by: String?

        @Argument(help: "The environment whose desired manifest is approved.")
        var environment: String

        func validate() throws {
            _ = try environmentNames([environment])
            if let by, Self.signature(by) == nil { throw ValidationError("--by must look like \"Name <email>\"") }
        }

        static func signature(_ text: String) -> Signature? {
            guard let open = text.firstIndex(of: "<"), text.hasSuffix(">") else { return nil }
            let name = text[..<open].trimmingCharacters(in: .whitespaces)
            let email = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
            return name.isEmpty || email.isEmpty ? nil : Signature(name: name, email: email)
        }

        func run() async throws {
            let repository = try await global.openRepository()
            let configured = await repository.git.defaultSignature()
            guard let approver = by.flatMap(Self.signature) ?? configured else {
                throw ValidationError("who approves? set git's user.name and user.email, or pass --by \"Name <email>\"")
            }
            let name = try environmentNames([environment])[0]
            let approval = try await repository.approve(name, by: approver)
            global.stateDirectory(for: repository).rememberOwnCommit(approval.commit)
            print("\(name): approved \(approval.version) (manifest \(approval.manifest.prefix(7))) as \(approval.approver), commit \(approval.commit.short)")
        }
    }
}
