import ArgumentParser
import Foundation
import SlipwayHost
import SlipwayDaemon
import SlipwayEngine
import SlipwayManifest
import SlipwayRecords
import SlipwayCore

extension Slipway {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status", abstract: "Show what runs in each environment and the last result.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: "Environment to show (default: all).")
        var environment: String?

        @Flag(name: .long, help: "Show it again every second until interrupted (with --json: one document per line).")
        var watch = false

        func validate() throws { _ = try environmentNames(environment.map { [$0] } ?? []) }

        static let decoder: JSONDecoder = {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return decoder
        }()

        struct StatusReport: Encodable {
            let environments: [Row]
            /// Runs of the daemon in progress (empty when no daemon runs).
            let inFlight: [InFlight.Entry]
        }

        struct Row: Encodable {
            let environment: String
            let status: EnvironmentStatus?
            /// Instances of the running version alive on this machine now.
            let instancesRunning: Int
            /// Why the status file could not be read (the others still are).
            var error: String? = nil
            /// What this machine lacks to deploy the desired manifest (see `MachineCheck`).
            var held: [String] = []
            /// Each registered instance: its version and what it uses now (nil: it could not be read).
            var instances: [InstanceRow] = []
        }

        struct InstanceRow: Encodable {
            let id: String
            let version: String
            let host: String?
            let usage: InstanceUsage?
        }

        /// The error for a name that is neither a manifest nor an environment with state here.
        static func unknown(_ name: EnvironmentName, known: Set<EnvironmentName>) -> String {
            "no environment \(name): no \(name.manifestPath) and nothing deployed here" + (known.isEmpty ? "" : " (known: \(known.sorted().map(\.rawValue).joined(separator: ", ")))")
        }

        func run() async throws {
            guard watch else { return try await show() }
            while true {
                if !output.json {
                    print("\u{1B}[H\u{1B}[2J", terminator: "")  // home, clear: each frame replaces the last
                    print("slipway status — \(Timestamp.iso(Date()))\n")
                }
                try await show()
                fflush(nil)
                try await Task.sleep(for: .seconds(1))
            }
        }

        func show() async throws {
            let repository = try await global.openRepository()
            let state = global.stateDirectory(for: repository)
            let tip = try await repository.tip()
            let desired = try await repository.desired(at: tip)
            // Environments that run here but have no valid manifest at the tip (deleted, broken) are shown too: they still serve.
            let orphans = state.knownEnvironments().filter { desired.environments.manifests[$0] == nil && state.savedStatus($0)?.version != nil }
            let names = try environmentNames(environment.map { [$0] } ?? []).nonEmpty ?? desired.environments.ordered + orphans
            let known = Set(desired.environments.ordered + state.knownEnvironments())
            if let unknown = names.first(where: { !known.contains($0) }) { throw CommandFailure(Self.unknown(unknown, known: known)) }
            // The daemon's view when one runs (its environment is what counts), otherwise this shell's: what apply here would do.
            let answer = ControlServer.send("status", to: Daemon.controlSocket(state))
            let inFlight = (answer.flatMap { try? Self.decoder.decode([InFlight.Entry].self, from: Data($0.utf8)) } ?? []).filter { names.contains($0.environment) }
            let machine = answer == nil ? try global.engine(repository).machine : nil
            let registered = Dictionary(names.map { ($0, state.registry($0).load()) }, uniquingKeysWith: { first, _ in first })
            let usage = await state.usageNow(of: registered.values.flatMap { $0 }, variables: ProcessInfo.processInfo.environment)
            var rows: [Row] = []
            for name in names {
                do {
                    let status = try await repository.deployedStatus(of: name, at: tip, state: state)
                    // Of the deployed version; with none deployed, of what a run stopped early left serving.
                    let serving = Set(status.map { status in status.version.map { [$0] } ?? status.instances.map(\.version) } ?? [])
                    let running = (registered[name] ?? []).filter { serving.contains($0.version) && $0.isRunning }.count
                    let held = desired.environments.manifests[name].flatMap { manifest in machine.map { $0.problems(manifest, in: name) } } ?? []
                    let instances = (registered[name] ?? []).map { InstanceRow(id: $0.id, version: $0.version, host: $0.host, usage: usage[$0.id]) }
                    rows.append(Row(environment: name.rawValue, status: status, instancesRunning: running, held: held, instances: instances))
                } catch {
                    rows.append(Row(environment: name.rawValue, status: nil, instancesRunning: 0, error: "\(ErrorText.sentence(error))"))
                }
            }
            if output.json { return try output.print(json: StatusReport(environments: rows, inFlight: inFlight), compact: watch) }
            for entry in inFlight {
                if entry.phase == InFlight.held {
                    print("\(entry.environment): held by the daemon since \(Timestamp.iso(entry.since)) — \(entry.step)")
                } else {
                    print("\(entry.environment): in flight — \(entry.phase), \(entry.step), \(entry.percent)% (since \(Timestamp.iso(entry.since)))")
                }
            }
            for row in rows {
                if let error = row.error {
                    print("\(row.environment): \(error)")
                    continue
                }
                for problem in row.held { print("\(row.environment): held on this machine — \(problem)") }
                guard let status = row.status else {
                    print("\(row.environment): never deployed")
                    continue
                }
                // No version deployed, yet a run stopped early (where nothing ran before) may have left its set serving.
                let leftServing = status.instances.isEmpty ? "nothing running"
                    : "no release has succeeded yet; \(Set(status.instances.map(\.version)).sorted().joined(separator: ", ")) serves, left by the last run (\(row.instancesRunning)/\(status.instances.count) instances running)"
                let running = status.version.map { "\(status.service) \($0) since \(status.since ?? "?"), \(row.instancesRunning)/\(status.instances.count) instances running" } ?? leftServing
                print("\(row.environment): \(running); last deployment \(status.lastDeployment) \(status.lastResult.rawValue)")
                if let name = EnvironmentName(text: row.environment) { Self.notes(status, of: name, desired: desired).forEach { print("    \($0)") } }
                for instance in row.instances {
                    print("    \(instance.id) \(instance.version)\(instance.host.map { " on \($0)" } ?? ""): \(instance.usage?.text ?? "not running or not readable")")
                }
            }
        }

        /// What else is true of an environment beside what runs.
        static func notes(_ status: EnvironmentStatus, of name: EnvironmentName, desired: DesiredState) -> [String] {
            var notes: [String] = []
            // Only while the failed manifest is still the desired one: after a revert it is history.
            if let failed = status.failedVersion, status.failedManifest == desired.blobs[name] {
                notes.append("desired \(failed) failed: \(status.failedReason ?? "?")")
            }
            if desired.environments.manifests[name] == nil {
                notes.append("no valid \(name.manifestPath) at the tip: what runs keeps running, and is healed, until it is fixed")
            }
            if let suspended = desired.environments.manifests[name]?.suspended { notes.append("suspended: \(suspended)") }
            if let crashLoop = status.crashLoop, crashLoop == status.manifest {
                notes.append("crash-looped since \(status.lastDeployment): not restarted until a new release")
            }
            return notes
        }
    }
}

extension Array {
    var nonEmpty: Self? { isEmpty ? nil : self }
}
