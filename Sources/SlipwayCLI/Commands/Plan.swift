import ArgumentParser
import SlipwayEngine
import SlipwayManifest

extension Slipway {
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "plan",
            abstract: "Show desired vs deployed state, field by field (secrets as references, never values).")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: "Environments to plan (default: all).")
        var environments: [String] = []

        func validate() throws { _ = try environmentNames(environments) }

        func run() async throws {
            let repository = try await global.openRepository()
            let plan = try await global.engine(repository).planner.plan(try environmentNames(environments))
            if output.json {
                try output.print(json: plan)
            } else {
                Self.printText(plan)
            }
            if !plan.invalid.isEmpty { throw ExitCode(1) }
        }

        static func printText(_ plan: SlipwayEngine.Plan) {
            var text = ""  // written once: thousands of environments are thousands of lines
            func line(_ part: String) { text += part; text += "\n" }
            for diagnostic in plan.invalid { line(diagnostic) }
            for environment in plan.environments {
                let deployed = environment.deployedVersion ?? "nothing"
                switch environment.action {
                case .none:
                    line("\(environment.environment): up to date (\(environment.service) \(deployed))")
                case .waiting, .suspended:
                    line("\(environment.environment): \(environment.action.rawValue) — \(environment.reason ?? "")")
                case .remove:
                    line("\(environment.environment): remove \(environment.service) \(deployed) — \(environment.reason ?? "")")
                default:
                    line("\(environment.environment): \(environment.action.rawValue) \(environment.service) \(deployed) → \(environment.desiredVersion)")
                    if let reason = environment.reason, [.repair, .held].contains(environment.action) { line("    \(reason)") }
                    if let upstream = environment.promotesInto {
                        line("    first promotes \(environment.desiredVersion) into \(upstream) and validates it there (unless it goes back to the version that ran before)")
                    }
                    let width = environment.changes.map(\.field.count).max() ?? 0
                    for change in environment.changes {
                        line("    \(change.field.padding(toLength: width, withPad: " ", startingAt: 0))  \(change.from) → \(change.to)")
                    }
                }
            }
            print(text, terminator: "")
        }
    }
}
