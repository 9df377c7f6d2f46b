import ArgumentParser
import Foundation
import Logging
import SlipwayHost

/// `slipway`: GitOps deployments from an ops repository.
@main
struct Slipway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipway",
        abstract: "Deploy by committing to Environments/<env>.yaml; read what happened in git log.",
        version: "0.1.0",
        subcommands: [Init.self, Validate.self, Plan.self, Apply.self, Watch.self, Status.self, Logs.self, History.self, Show.self, Archive.self, Rollback.self, Suspend.self, Resume.self, TrustCommand.self, Approve.self,
                      Notify.self, HooksCommand.self, Down.self, Demo.self]
    )

    /// Parses and runs the command, with the exit statuses of README's command line: 0
    /// success, 1 the thing failed, 2 usage.
    static func main() async {
        // A peer that closes a socket or pipe early (a control-socket client, HAProxy's runtime
        // API, a hook's reader) is an error to handle where it happens, not a reason to die.
        signal(SIGPIPE, SIG_IGN)
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {  // --help, --version
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let isUsage = code == .validationFailure || error is ValidationError
            var message = isUsage ? fullMessage(for: error) : ErrorText.sentence(error)
            if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
            if !message.isEmpty {
                FileHandle.standardError.write(Data(((isUsage ? "" : "error: ") + message + "\n").utf8))
            }
            Foundation.exit(isUsage ? 2 : (code == .success ? 1 : code.rawValue == 64 ? 2 : 1))
        }
    }
}
