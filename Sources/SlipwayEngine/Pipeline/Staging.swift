import Foundation
import Logging
import SlipwayGit
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayTraffic
import SlipwayCore

/// Staging (README, "How a deployment runs"): the version runs and passes in the upstream
/// environment first.
extension PipelineRun {
    /// The staging phase: the version must run in `upstream` and pass there — promoted and
    /// deployed in this run when it does not run yet, then smoke checks, integration commands
    /// and a soak with health and error analysis. A validation of the same version and manifest
    /// from an earlier run is reused.
    func stage(in upstream: EnvironmentName, log: RunLog, deployment: DeploymentID) async throws {
        var status = try await repository.deployedStatus(of: upstream, at: try await repository.tip(), state: engine.state)
        if let status, status.version == manifest.version, status.validatedVersion == manifest.version, status.validatedFor == blob {
            try await log.step("reuse the validation in \(upstream)") {
                state.upstreamDeployment = status.validatedIn
                return "\(upstream) validated \(manifest.version) for this manifest in \(status.validatedIn.map(\.rawValue) ?? "?")"
            }
            return
        }
        if status?.version != manifest.version || status?.failedVersion == manifest.version {
            try await log.step("promote \(manifest.version) to \(upstream)", at: 0.1) {
                let record = try await promote(to: upstream)
                guard !record.isFailure && record.result != .superseded else {
                    throw DeploymentFailure(reason: "\(manifest.version) \(record.result.rawValue) in \(upstream) (\(record.deployment)): \(record.reason ?? "")",
                                            superseded: record.result == .superseded)
                }
                return "\(upstream) \(record.result.rawValue): deployment \(record.deployment)"
            }
            status = try await repository.deployedStatus(of: upstream, at: try await repository.tip(), state: engine.state)
        }
        guard var validated = status, validated.version == manifest.version,
              let upstreamManifest = try await repository.desired(at: try await repository.tip(), untrusted: TrustLedger.untrusted(engine.state)).environments.manifests[upstream] else {
            throw DeploymentFailure(reason: "\(upstream) does not run \(manifest.version)")
        }
        let listen = upstreamManifest.traffic.listen
        if !manifest.gates.smoke.isEmpty {
            try await log.step("smoke checks in \(upstream)", at: 0.5) {
                if let failure = await smokeChecks.failure(host: listen.host, ports: [(upstream.rawValue, listen.port)]) {
                    throw DeploymentFailure(reason: "in \(upstream): \(failure)")
                }
                return "\(manifest.gates.smoke.count) passed on \(listen)"
            }
        }
        let url = listen.url
        let runner = gateRunner(deployment: deployment)
        for gate in manifest.gates.integration {
            try await log.step("integration \(gate.name) in \(upstream)", at: 0.6) {
                let result = try await runner.run(gate.name, gate.command, timeout: gate.timeout, extra: ["url": url, "env": upstream.rawValue])
                guard result.passed else {
                    throw DeploymentFailure(reason: result.failureReason("integration \(gate.name)", in: upstream.rawValue, timeout: gate.timeout),
                                            logs: [InstanceLog(instance: "integration \(gate.name)", lines: result.tail)])
                }
                return result.detail
            }
        }
        if let soak = manifest.gates.monitor {
            try await log.step("soak in \(upstream) for \(soak)", at: 0.8) { try await soakIn(upstream, for: soak, log: log) }
        }
        try await log.step("\(upstream) stable and validated", at: 1) {
            validated.validatedVersion = manifest.version
            validated.validatedFor = blob
            validated.validatedIn = validated.lastDeployment
            state.upstreamStatus = validated
            state.upstreamDeployment = validated.lastDeployment
            return "\(manifest.version) validated in \(upstream) (deployment \(validated.lastDeployment))"
        }
    }

    /// Commits the version into the upstream's manifest (git names what runs there) and runs
    /// the upstream's own pipeline, committing its record.
    func promote(to upstream: EnvironmentName) async throws -> DeploymentRecord {
        let upstreamEngine = Engine(repository: repository, configuration: engine)
        try await upstreamEngine.finishPreviousRun(upstream)
        let tip = try await repository.tip()
        guard let currentBlob = try await repository.git.blobID(at: upstream.manifestPath, in: tip),
              let current = try await repository.git.readBlob(currentBlob, maximumBytes: ManifestParser.maximumSize) else {
            throw DeploymentFailure(reason: "no \(upstream.manifestPath)")
        }
        // The promotion is Slipway's own commit, which counts as signed: it may only carry text that was accepted.
        let accepted = try await trust.acceptance(of: upstream.manifestPath, blob: currentBlob)
        if case .refused(let why) = accepted {
            throw DeploymentFailure(reason: "not promoted to \(upstream): its manifest at the tip does not count (\(why))", refused: true)
        }
        var signature = accepted
        let text = Self.settingVersion(manifest.version, in: String(decoding: current, as: UTF8.self))
        let from = (try? ManifestParser.parse(current, path: upstream.manifestPath))?.version ?? "?"
        let message = CommitMessage.promote(upstream: upstream, service: manifest.service, from: from, to: manifest.version, for: environment)
        let commit: ObjectID
        if Data(text.utf8) == current, let blob = try await repository.git.blobID(at: upstream.manifestPath, in: tip) {
            // Already promoted (a run stopped after its promotion and before the upstream's record): deploy that commit again.
            commit = try await repository.git.introducingCommit(of: upstream.manifestPath, blob: blob, from: tip)
        } else {
            // Only over the text that was verified: a change pushed meanwhile is never overwritten.
            guard let made = try await repository.git.commit([FileUpdate(path: upstream.manifestPath, content: Data(text.utf8))], message: message,
                                                             author: engine.author, onto: repository.branch, requiring: [upstream.manifestPath: currentBlob]) else {
                throw DeploymentFailure(reason: "not promoted to \(upstream): \(upstream.manifestPath) changed while it was being promoted; the next pass plans again")
            }
            commit = made
            engine.state.rememberOwnCommit(commit)
            if accepted != .open { signature = .trusted("made by Slipway on this machine") }
        }
        let desired = try await repository.desired(at: commit, untrusted: TrustLedger.untrusted(engine.state))
        guard let upstreamManifest = desired.environments.manifests[upstream], let upstreamBlob = desired.blobs[upstream] else {
            throw DeploymentFailure(reason: "\(upstream.manifestPath) is invalid after setting its version: \(desired.environments.diagnostics.map(\.description).joined(separator: "; "))")
        }
        let upstreamStatus = try await repository.deployedStatus(of: upstream, at: try await repository.tip(), state: engine.state)
        let deployed = await upstreamStatus?.manifest.asyncMap { await repository.manifest(blob: $0, path: upstream.manifestPath) } ?? nil
        let run = PipelineRun(
            environment: upstream, manifest: upstreamManifest, blob: upstreamBlob, trigger: try await repository.git.commitInfo(commit),
            status: upstreamStatus, changes: Planner.changes(from: deployed?.fields ?? [], to: upstreamManifest.fields),
            repository: repository, engine: engine, stop: stop, signature: signature)
        let outcome = try await run.run()
        _ = try await upstreamEngine.commit(outcome, of: upstream)
        return outcome.record
    }

    /// Sets the top-level `version:` of a manifest's text, keeping everything else as written.
    static func settingVersion(_ version: String, in text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            // The top-level key, however it is quoted: `version:`, `"version":`, `'version':`.
            guard let key = ["version:", "\"version\":", "'version':"].first(where: { line.hasPrefix($0) }) else { return String(line) }
            let comment = line.range(of: " #").map { String(line[$0.lowerBound...]) } ?? ""
            return "\(key) \"\(version)\"\(comment)"
        }.joined(separator: "\n")
    }

    /// Watches the upstream's instances for `window`: health, and an error rate judged on its own.
    func soakIn(_ upstream: EnvironmentName, for window: TimeSpan, log: RunLog) async throws -> String {
        let traffic = engine.state.traffic(upstream, logger: engine.logger)
        let names = Set(try await engine.target(for: manifest, in: upstream).instances().filter { $0.warmUntil == nil }.map(\.id))
        let before = try await traffic.stats()
        try await log.pause(for: window.duration)
        let sample = Sample.between(before, try await traffic.stats(), servers: names)
        let (verdict, reason) = Judge(policy: manifest.rollback).judge(canary: sample, baseline: nil, reference: nil)
        if case .fail = verdict { throw DeploymentFailure(reason: "soak in \(upstream): \(reason)") }
        return verdict == .inconclusive ? "no decision on traffic (\(reason)); health checks passed throughout" : reason
    }
}
