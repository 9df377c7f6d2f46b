import ArgumentParser
import SlipwayEngine
import SlipwayGit

extension Slipway {
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Create an ops repo: example manifests in Environments/ and templates in Templates/, committed.")

        @Argument(help: "Where to create it (default: the current directory).")
        var path: String = "."

        func run() async throws {
            let git = try await Scaffold.create(at: path, author: Signature(name: "Slipway", email: "slipway@localhost"))
            let root = git.workingDirectory?.path ?? path
            print("""
                Created an ops repo in \(root)
                  Environments/staging.yaml, Environments/production.yaml   desired state: edit, commit, apply
                  Templates/                                                how records and status files look
                Next: slipway validate --repo \(root) && slipway plan --repo \(root)
                """)
        }
    }
}
