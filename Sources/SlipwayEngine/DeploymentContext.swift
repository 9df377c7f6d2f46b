import Logging
import Foundation
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayTraffic
import SlipwayCore

/// Everything one deployment of one environment works with.
struct DeploymentContext {
    /// The environment being deployed.
    let environment: EnvironmentName
    /// Starts instances of the desired version.
    let launcher: InstanceLauncher
    /// Starts instances of the version that ran before, to restore it after a failure
    /// (nil when there was none, or its manifest is gone).
    let previous: InstanceLauncher?
    /// The environment's load balancer.
    let traffic: any TrafficProvider
    /// The ops repo (approvals are read from it).
    let repository: OpsRepository
    /// Where the environment's instances run.
    let target: any Target
    /// Running instances when the deployment started (the baseline).
    let baseline: [InstanceRecord]
    /// A previous blue-green set still running at weight 0.
    let warm: [InstanceRecord]
    /// Weight every serving instance gets.
    let weight: Int
    /// `gates.smoke`, run on new instances.
    let smoke: SmokeChecks
    /// Masks secret values in anything written.
    let redactor: Redactor
    /// What the baseline used over its life before the run (pre-flight), for the resource checks.
    var baselineResources: ResourceFigures?
    /// When and how to roll back.
    var policy: RollbackPolicy { manifest.rollback }
    let log: RunLog
    let logger: Logger

    var manifest: Manifest { launcher.manifest }

    /// `rollback.metrics`, the new version against the one serving when the run started.
    var metricChecks: MetricChecks {
        MetricChecks(queries: policy.metrics, server: policy.prometheus, environment: environment, service: manifest.service,
                     version: manifest.version, previousVersion: baseline.first { $0.version != manifest.version }?.version)
    }

    /// Takes an instance out of service: drain, wait for its open requests (bounded by the
    /// stop timeout), remove it from the balancer, stop the process, forget it.
    func retire(_ instance: InstanceRecord) async throws {
        try await traffic.drain(instance.id)
        let deadline = ContinuousClock.now + manifest.run.stopTimeout.duration
        while ContinuousClock.now < deadline,
              let stats = try await traffic.stats().first(where: { $0.name == instance.id }), stats.currentSessions > 0 {
            try await log.pause(for: .milliseconds(20))
        }
        try await traffic.remove(instance.id)
        let stopTimeout = manifest.run.stopTimeout.duration
        try await log.waiting { try await stopOrSetAside(instance, timeout: stopTimeout) }
        logger.debug("instance retired", metadata: ["env": "\(environment)", "instance": "\(instance.id)"])
    }

    /// Starts `launcher`'s instances on `hosts` host by host, going on past a host that fails
    /// (one that stopped answering must not keep the others from their previous version);
    /// returns what started and, per host that failed, why.
    func startEach(on hosts: [String?], with launcher: InstanceLauncher, weight: Int? = nil) async -> (started: [InstanceRecord], failures: [String]) {
        var started: [InstanceRecord] = [], failures: [String] = []
        for host in hosts.distinct {
            do {
                started += try await startServing(on: hosts.filter { $0 == host }, with: launcher, weight: weight)
            } catch {
                failures.append("\(host ?? "this machine"): \(ErrorText.sentence(error))")
            }
        }
        return (started, failures)
    }

    /// Retires each of `instances`, going on past one that fails (a host that stopped
    /// answering); returns what failed, as `id on host: why`.
    func retireEach(_ instances: [InstanceRecord]) async -> [String] {
        var failures: [String] = []
        for instance in instances {
            do {
                try await retire(instance)
            } catch {
                failures.append("\(instance.id)\(instance.host.map { " on \($0)" } ?? ""): \(ErrorText.sentence(error))")
            }
        }
        return failures
    }

    /// Removes an instance that never served (a failed start): no drain needed.
    func discard(_ instance: InstanceRecord) async {
        try? await traffic.remove(instance.id)
        await log.waiting { try? await stopOrSetAside(instance, timeout: .seconds(2)) }
    }

    /// Stops an instance out of traffic. One whose host does not answer stays registered as a
    /// warm set already expired: never given traffic again, and stopped by the housekeeping
    /// of a later pass once its host answers.
    private func stopOrSetAside(_ instance: InstanceRecord, timeout: Duration) async throws {
        do {
            try await target.stop(instance, timeout: timeout)
        } catch {
            try? await target.setWarm([instance.id], until: .distantPast)
            throw error
        }
    }

    /// Where a complete set of `launcher`'s version runs: `run.replicas` on every host.
    func everywhere(_ launcher: InstanceLauncher) -> [String?] { target.placements(perHost: launcher.manifest.run.replicas) }

    /// ` on N hosts` for a fleet, nothing on this machine.
    var onHosts: String { target.hosts == [nil] ? "" : " on \(target.hosts.count) host(s)" }

    /// What a complete set of `launcher`'s version lacks, given the instances of it that run.
    func missing(_ launcher: InstanceLauncher, besides running: [InstanceRecord]) -> [String?] {
        var left = running.map(\.host)
        return everywhere(launcher).filter { host in
            guard let index = left.firstIndex(of: host) else { return true }
            left.remove(at: index)
            return false
        }
    }

    /// Starts one instance with `launcher` on each of `hosts`, adds them to the balancer, waits
    /// for their health checks and gives them `weight` (the context's serving weight unless
    /// told; 0 keeps them out of traffic). On failure they are discarded and the error thrown.
    func startServing(on hosts: [String?], with launcher: InstanceLauncher, weight: Int? = nil) async throws -> [InstanceRecord] {
        var started: [InstanceRecord] = []
        do {
            for host in hosts {
                let instance = try await target.start(launcher, on: host)
                started.append(instance)
                try await traffic.add(instance.backend)
            }
            try await launcher.waitHealthy(started, on: target, traffic: traffic, redactor: redactor, log: log)
            if let failure = await smoke.failure(of: started) {
                throw DeploymentFailure(reason: failure, logs: await target.logs(of: started, redactor: redactor))
            }
            try await traffic.setWeights(Dictionary(uniqueKeysWithValues: started.map { ($0.id, weight ?? self.weight) }))
            return started
        } catch {
            for instance in started { await discard(instance) }
            throw error
        }
    }
}

extension DeploymentContext {
    /// Takes all traffic back from `fresh` in one runtime-API exchange, records how long that
    /// took after `detected`, then drains and stops the new instances. Throws the failure that
    /// ends the deployment as rolled back.
    func rollBack(_ fresh: [InstanceRecord], to previous: [InstanceRecord], trigger: RollbackTrigger, reason: String,
                  detected: ContinuousClock.Instant, detectedAt: Date, unreached: String = "") async throws -> Never {
        var weights = Dictionary(uniqueKeysWithValues: fresh.map { ($0.id, 0) })
        for instance in previous { weights[instance.id] = weight }
        try await traffic.setWeights(weights)
        let elapsed = ContinuousClock.now - detected
        let switched = (Double(elapsed.components.attoseconds) / 1e13).rounded() / 100 + Double(elapsed.components.seconds) * 1000
        let logs = await target.logs(of: fresh, redactor: redactor)
        let failures = await retireEach(fresh)
        var afterwards = failures.isEmpty ? "\(fresh.count) new instance(s) drained and stopped"
            : "\(fresh.count - failures.count) new instance(s) drained and stopped; taking out \(failures.joined(separator: "; ")) failed (they get no traffic)"
        afterwards += unreached
        let policy = self.policy
        let report = RollbackReport(
            trigger: trigger, reason: reason, detectedAt: detectedAt, switchMilliseconds: switched,
            thresholds: "error rate +\(policy.errorRateIncrease.formatted) points, response time +\(Int(policy.latencyIncrease * 100))%\(ResourceJudge(rules: policy.resources).thresholds), at least \(policy.minRequests) requests per decision"
                + policy.metrics.map { ", \($0.name) \($0.bound)" }.joined(),
            afterwards: afterwards)
        log.rollback = report
        throw DeploymentFailure(reason: "rolled back (\(trigger.rawValue)): \(reason)", logs: trigger == .inconclusive ? [] : logs, rollback: report)
    }
}

extension DeploymentContext {
    /// After the new set took all the traffic and a post-deploy check failed: the previous
    /// version serves again — its warm set when blue-green kept one, otherwise started anew —
    /// and the new set is taken out. Returns what happened; never throws.
    func rollBackAfterPromotion(_ fresh: [InstanceRecord], trigger: RollbackTrigger, reason: String) async -> RollbackReport {
        let detected = ContinuousClock.now, detectedAt = Date()
        func report(_ afterwards: String) -> RollbackReport {
            let report = RollbackReport(trigger: trigger, reason: reason, detectedAt: detectedAt, switchMilliseconds: 0,
                                        thresholds: "", afterwards: afterwards)
            log.rollback = report
            return report
        }
        do {
            // Blue-green left the baseline running at 0%; rolling and canary have stopped it, or
            // (a failed batch) already started it again: what runs now counts, not the baseline.
            // Where nothing ran before, what served when this run began (the set of a run stopped
            // early, left serving) is what it goes back to: never two sets side by side.
            let live = (try? await target.instances()) ?? baseline + warm
            let standIns = Set(baseline.map(\.id))
            var previous = await target.running(live.filter { instance in
                if let launcher = self.previous { instance.manifest == launcher.manifestBlob } else { standIns.contains(instance.id) }
            })
            let fresh = fresh.filter { !standIns.contains($0.id) }  // a stand-in of the same manifest stays
            var unreached = ""
            if let launcher = self.previous {
                let restarted = await startEach(on: missing(launcher, besides: previous), with: launcher, weight: 0)
                previous += restarted.started
                if !restarted.failures.isEmpty { unreached = "; not restarted on \(restarted.failures.joined(separator: "; "))" }
            }
            guard !previous.isEmpty else { return report("nothing to roll back to: the new version keeps serving" + unreached) }
            try await target.setWarm(Set(previous.map(\.id)), until: nil)
            try await rollBack(fresh, to: previous, trigger: trigger, reason: reason, detected: detected, detectedAt: detectedAt, unreached: unreached)
        } catch let failure as DeploymentFailure where failure.rollback != nil {
            return failure.rollback ?? report("")
        } catch {
            return report("rolling back failed: \(ErrorText.sentence(error))")
        }
    }
}

