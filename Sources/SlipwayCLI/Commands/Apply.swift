import ArgumentParser
import Foundation
import SlipwayHost
import SlipwayEngine
import SlipwayManifest
import SlipwayRecords
import SlipwayCore

extension Slipway {
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Run one reconcile pass now: deploy what differs, commit a record per deployment.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        @Flag(name: .long, help: "Also re-run manifests that failed before (normally Slipway waits for a change).")
        var retryFailed = false

        @Flag(name: .long, help: "Print the pipeline that would run (phases, gates, strategy steps, waits, an estimate); change nothing.")
        var dryRun = false

        @Argument(help: "Environments to apply (default: all, upstream environments first).")
        var environments: [String] = []

        func validate() throws { _ = try environmentNames(environments) }

        func run() async throws {
            let repository = try await global.openRepository()
            let engine = global.engine(repository, progress: ProgressDisplay())
            if dryRun { return try await printDryRun(engine) }
            let (plan, outcomes) = try await engine.apply(try environmentNames(environments), retryFailed: retryFailed)
            let succeeded = output.json ? try Self.printJSON(plan: plan, outcomes: outcomes, output: output) : Self.report(plan: plan, outcomes: outcomes)
            // The deployments are done; their last events may still be on their way (or being retried).
            if await !engine.configuration.notifier.drain(within: .seconds(30)) {
                printError("some notifications were still being retried after 30 s; they are dropped")
            }
            if !succeeded { throw ExitCode(1) }
        }

        func printDryRun(_ engine: Engine) async throws {
            let plan = try await engine.planner.plan(try environmentNames(environments))
            let desired = try await engine.repository.desired(at: try await engine.repository.tip())
            for diagnostic in plan.invalid { printError(diagnostic) }
            for environment in plan.environments {
                if environment.action == .remove {
                    print("\(environment.environment): would stop \(environment.service) \(environment.deployedVersion ?? "") — \(environment.reason ?? "")")
                    continue
                }
                guard environment.needsRun(retryFailed: retryFailed), let manifest = desired.environments.manifests[environment.environment] else {
                    let held = environment.action == .held ? " — \(environment.reason ?? "")" : ""
                    print("\(environment.environment): nothing to do (\(environment.action.rawValue))\(held)")
                    continue
                }
                DryRun.describe(environment, manifest: manifest).forEach { print($0) }
            }
            if !plan.invalid.isEmpty { throw ExitCode(1) }
        }

        struct Report: Encodable {
            let outcomes: [Outcome]
            /// `path:line:col: message` of each invalid manifest.
            let invalid: [String]
        }

        struct Outcome: Encodable {
            let environment: String
            let action: String
            let result: String?
            let version: String?
            let previousVersion: String?
            let reason: String?
            let record: String?
            let commit: String?
            let revert: String?
            let error: String?
        }

        /// Prints what happened as JSON (`--json`); false when anything failed or a manifest is invalid.
        static func printJSON(plan: SlipwayEngine.Plan, outcomes: [ApplyOutcome], output: OutputOptions) throws -> Bool {
            let rows = outcomes.map { outcome in
                Outcome(environment: outcome.plan.environment.rawValue, action: outcome.plan.action.rawValue, result: outcome.record?.result.rawValue,
                        version: outcome.record?.version, previousVersion: outcome.record?.previousVersion,
                        reason: outcome.record?.reason ?? outcome.plan.reason, record: outcome.record?.path, commit: outcome.commit?.hex,
                        revert: outcome.revert?.hex, error: outcome.error)
            }
            try output.print(json: Report(outcomes: rows, invalid: plan.invalid.map { "\($0)" }))
            return plan.invalid.isEmpty && outcomes.allSatisfy { outcome in
                outcome.error == nil && !(outcome.record?.isFailure ?? false) && ![.blocked, .held].contains(outcome.plan.action)
            }
        }

        /// Prints what happened; false when anything failed or a manifest is invalid.
        static func report(plan: SlipwayEngine.Plan, outcomes: [ApplyOutcome]) -> Bool {
            for diagnostic in plan.invalid { printError(diagnostic) }
            var failed = !plan.invalid.isEmpty
            for outcome in outcomes {
                if let error = outcome.error {
                    failed = true
                    printError("\(outcome.plan.environment): \(error)")
                    continue
                }
                guard let record = outcome.record else {
                    let note = switch outcome.plan.action {
                    case .waiting, .suspended: "\(outcome.plan.action.rawValue) — \(outcome.plan.reason ?? "")"
                    case .blocked: "not deployed — \(outcome.plan.reason ?? "")"
                    case .held: "held — \(outcome.plan.reason ?? "")"
                    default: "up to date"
                    }
                    if [.blocked, .held].contains(outcome.plan.action) {
                        failed = true
                        printError("\(outcome.plan.environment): \(note)")
                    } else {
                        print("\(outcome.plan.environment): \(note)")
                    }
                    continue
                }
                let versions = record.result == .removed ? "\(record.version) stopped" : "\(record.previousVersion ?? "none") → \(record.version)"
                print("\(record.environment): \(record.result.rawValue) — \(record.service) \(versions)"
                      + " (record \(record.path), commit \(outcome.commit?.short ?? "?"))")
                if let revert = outcome.revert {
                    print("\(record.environment): reverted Environments/\(record.environment).yaml to \(record.previousVersion ?? "?") (commit \(revert.short))")
                }
                guard record.isFailure else { continue }
                failed = true
                printError("\(record.environment): \(record.reason ?? "failed")")
                for log in record.logs {
                    printError("  last log lines of \(log.instance):")
                    log.lines.forEach { printError("    \($0)") }
                }
            }
            return !failed
        }
    }
}
