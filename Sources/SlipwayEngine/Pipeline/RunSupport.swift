import Foundation
import Logging
import SlipwayGit
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayTraffic
import SlipwayCore

/// What the phases of a run share: the gate runner, secrets, launchers, the working directory.
extension PipelineRun {
    var trust: TrustCheck { TrustCheck(repository: repository, state: engine.state, resolver: engine.resolver) }

    /// - Parameter source: whose working directory and values the commands get (default: this
    ///   run's manifest; a refused run's notifications use the accepted one's).
    func gateRunner(deployment: DeploymentID, source: Manifest? = nil) -> GateRunner {
        let manifest = source ?? self.manifest
        let url = manifest.traffic.listen.url
        let context = [
            "SLIPWAY_ENV": environment.rawValue, "SLIPWAY_SERVICE": manifest.service, "SLIPWAY_VERSION": manifest.version,
            "SLIPWAY_PREVIOUS_VERSION": status?.version ?? "", "SLIPWAY_COMMIT": trigger.id.hex, "SLIPWAY_DEPLOYMENT": deployment.rawValue,
            "SLIPWAY_URL": url,
        ]
        return GateRunner(
            resolver: engine.resolver, workingDirectory: (try? workingDirectory(manifest)) ?? engine.state.work(environment),
            outputDirectory: engine.state.environment(environment).appendingPathComponent("gates"), deployment: deployment,
            values: ["commit": trigger.id.hex, "version": manifest.version, "env": environment.rawValue,
                     "service": manifest.service, "url": url],
            environment: engine.environment.filter { Self.inheritedVariables.contains($0.key) }.merging(context) { _, new in new },
            redactor: redactor(for: manifest))
    }

    func runHook(_ name: String, _ command: [String], deployment: DeploymentID, trigger: RollbackTrigger? = nil) async throws -> String {
        let result = try await gateRunner(deployment: deployment).run("hook-\(name)", command, timeout: .seconds(600))
        let output = result.tail.suffix(5).joined(separator: " / ")
        guard result.passed else {
            throw DeploymentFailure(reason: "hook \(name) failed (\(result.explain(.seconds(600)))): \(output)", trigger: trigger)
        }
        return "exit 0" + (output.isEmpty ? "" : ": \(output)")
    }

    func resolveSecrets(_ manifest: Manifest) throws -> [String: String] {
        var values: [String: String] = [:]
        for (name, reference) in manifest.run.secrets {
            guard let value = engine.environment[reference.variable] else {
                throw DeploymentFailure(reason: "secret \(name): \(reference.variable) is not set in Slipway's environment")
            }
            guard !value.isEmpty else {
                throw DeploymentFailure(reason: "secret \(name): \(reference.variable) is set but empty in Slipway's environment")
            }
            values[name] = value
        }
        return values
    }

    func launcher(for manifest: Manifest, blob: ObjectID, secrets: [String: String]) throws -> InstanceLauncher {
        InstanceLauncher(
            environment: environment, manifest: manifest, manifestBlob: blob, commit: trigger.id, secrets: secrets,
            state: engine.state, resolver: engine.resolver, workingDirectory: try workingDirectory(manifest),
            inherited: engine.environment.filter { Self.inheritedVariables.contains($0.key) })
    }

    static let inheritedVariables: Set<String> = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"]

    func workingDirectory(_ manifest: Manifest) throws -> URL {
        guard let directory = manifest.run.workingDirectory else { return engine.state.work(environment) }
        if directory.hasPrefix("/") { return URL(fileURLWithPath: directory) }
        let root = repository.git.workingDirectory ?? repository.git.gitDirectory
        return root.appendingPathComponent(directory).standardizedFileURL
    }

    /// Going back to the manifest that ran on this machine just before the one running now (a
    /// revert of the last release, `slipway rollback`): the run goes straight to it — no
    /// staging, no checklist, every instance at once (or the warm set) and one switch. Judged by
    /// what ran here, never by what a commit message says; not when either manifest says
    /// `rollback.gated`, nor for a manifest that failed or crash-looped here.
    func isReturn() async -> Bool {
        guard let running = status?.manifest, running != blob, !manifest.rollback.gated,
              status?.failedManifest != blob, status?.crashLoop != blob,
              engine.state.deployedManifests(environment).last(where: { $0.manifest != running })?.manifest == blob,
              let current = await repository.manifest(blob: running, path: environment.manifestPath) else { return false }
        return !current.rollback.gated
    }

    /// The launcher of the version that runs now, to restore it if the rollout fails.
    func previousLauncher() async -> InstanceLauncher? {
        guard let blob = status?.manifest, let manifest = await repository.manifest(blob: blob, path: environment.manifestPath),
              let secrets = try? resolveSecrets(manifest) else { return nil }
        return try? launcher(for: manifest, blob: blob, secrets: secrets)
    }

    /// Masks the values of this manifest's secrets in whatever the run writes.
    var redactor: Redactor { redactor(for: manifest) }

    func redactor(for manifest: Manifest) -> Redactor {
        Redactor(secrets: manifest.run.secrets.compactMap { engine.environment[$0.value.variable] })
    }

    var smokeChecks: SmokeChecks {
        SmokeChecks(checks: manifest.gates.smoke, timeout: manifest.health.timeout.duration + .seconds(1))
    }

    var previewAddress: String? {
        if case .blueGreen(let spec) = manifest.strategy { return spec.preview?.description }
        return nil
    }
}
