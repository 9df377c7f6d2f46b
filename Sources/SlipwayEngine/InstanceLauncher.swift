import Foundation
import Logging
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayTraffic
import SlipwayCore

/// What to run for one manifest version (argv, environment, working directory), and the wait
/// for its instances to pass their health checks; a `Target` starts them.
struct InstanceLauncher: Sendable {
    let environment: EnvironmentName
    let manifest: Manifest
    /// Blob id of the manifest the instances come from.
    let manifestBlob: ObjectID
    /// Commit that asked for this version (`{commit}`).
    let commit: ObjectID
    /// Resolved secret values by variable name: passed to the process, never written.
    let secrets: [String: String]
    let state: StateDirectory
    let resolver: ExecutableResolver
    let workingDirectory: URL
    /// Variables passed through from Slipway's own environment (PATH, LANG, …).
    let inherited: [String: String]

    /// The argv and environment of one instance on this machine; pure.
    func launchSpec(id: String, port: Int) -> LaunchSpec {
        var variables = inherited
        variables.merge(ownVariables(id: id, port: port)) { _, new in new }
        variables["SLIPWAY_STATE"] = state.root.path
        return LaunchSpec(arguments: arguments(id: id, port: port), environment: variables, workingDirectory: workingDirectory,
                          logFile: state.logs(environment).appendingPathComponent("\(id).log"))
    }

    /// The argv and environment of one instance on a fleet host: nothing of this machine's
    /// environment (the host's login gives PATH, HOME, …); pure.
    func remoteLaunch(id: String, port: Int) -> (arguments: [String], environment: [String: String]) {
        (arguments(id: id, port: port), ownVariables(id: id, port: port))
    }

    private func arguments(id: String, port: Int) -> [String] {
        let values = [
            "port": String(port), "version": manifest.version, "env": environment.rawValue, "service": manifest.service,
            "instance": id, "commit": commit.hex, "url": "http://127.0.0.1:\(port)",
            // Relative to the instance's folder on its host, where the artifact is placed.
            "artifact": manifest.run.artifact.map { "./artifacts/\($0.sha256)" } ?? "",
        ]
        return manifest.run.command.map { Placeholders.substitute($0, values) }
    }

    /// `run.env`, the secrets and Slipway's own variables.
    private func ownVariables(id: String, port: Int) -> [String: String] {
        var variables = manifest.run.env
        variables.merge(secrets) { _, new in new }
        variables.merge([
            "PORT": String(port), "SLIPWAY_ENV": environment.rawValue, "SLIPWAY_SERVICE": manifest.service,
            "SLIPWAY_VERSION": manifest.version, "SLIPWAY_INSTANCE": id, "SLIPWAY_COMMIT": commit.hex,
        ]) { _, new in new }
        return variables
    }

    /// The program `run.command` names, resolved as it would be started; nil when not found.
    func executable() -> URL? {
        launchSpec(id: "check", port: 0).arguments.first.flatMap { resolver.resolve($0, in: workingDirectory) }
    }

    /// Why `executable()` is nil.
    var executableProblem: String {
        resolver.problem(with: launchSpec(id: "check", port: 0).arguments.first ?? "", in: workingDirectory)
    }

    /// Waits until HAProxy's health checks pass for every instance; fails fast when one exits.
    func waitHealthy(_ instances: [InstanceRecord], on target: any Target, traffic: any TrafficProvider, redactor: Redactor, log: RunLog) async throws {
        let started = ContinuousClock.now, deadline = started + manifest.health.startTimeout.duration
        var nextReport = started + .seconds(1)
        while true {
            let stats = Dictionary(try await traffic.stats().map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            let live = Set(await target.running(instances).map(\.id))
            if let dead = instances.first(where: { !live.contains($0.id) }) {
                throw DeploymentFailure(reason: "instance \(dead.id) (\(dead.version)) exited during start-up",
                                        logs: [await target.log(of: dead, redactor: redactor)])
            }
            let pending = instances.filter { stats[$0.id]?.health != .up }
            if pending.isEmpty { return }
            let check = manifest.health.http
            let last = pending.map { "\($0.id): \(stats[$0.id]?.lastCheck ?? "no check yet")" }.joined(separator: ", ")
            if ContinuousClock.now >= nextReport {
                // A wait says what it waits for (the terminal redraws it; logs get a line).
                nextReport = .now + .seconds(1)
                log.status("waiting for GET \(check.path) → \(check.expect): \(instances.count - pending.count)/\(instances.count) healthy; last check \(last)")
            }
            if ContinuousClock.now >= deadline {
                throw DeploymentFailure(
                    reason: "\(pending.count) instance(s) of \(manifest.version) did not pass the health check GET \(check.path) → \(check.expect) within \(manifest.health.startTimeout) (last check: \(last))",
                    logs: await target.logs(of: pending, redactor: redactor))
            }
            try await log.pause(for: .milliseconds(50))
        }
    }
}
