import Logging
import SlipwayManifest
import SlipwayRecords
import SlipwayRuntime
import SlipwayTraffic

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
    /// Where the environment's instances are registered.
    let registry: InstanceRegistry
    /// Running instances when the deployment started (the baseline).
    let baseline: [InstanceRecord]
    /// Weight every serving instance gets.
    let weight: Int
    /// Masks secret values in anything written.
    let redactor: Redactor
    let log: RunLog
    let logger: Logger

    var manifest: Manifest { launcher.manifest }

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
        await log.waiting { await ProcessControl.stop(instance.process, timeout: manifest.run.stopTimeout.duration) }
        try registry.remove(instance.id)
        logger.debug("instance retired", metadata: ["env": "\(environment)", "instance": "\(instance.id)"])
    }

    /// Removes an instance that never served (a failed start): no drain needed.
    func discard(_ instance: InstanceRecord) async {
        try? await traffic.remove(instance.id)
        await log.waiting { await ProcessControl.stop(instance.process, timeout: .seconds(2)) }
        try? registry.remove(instance.id)
    }

    /// Starts `count` instances with `launcher`, adds them to the balancer, waits for their
    /// health checks and gives them traffic. On failure they are discarded and the error thrown.
    func startServing(_ count: Int, with launcher: InstanceLauncher) async throws -> [InstanceRecord] {
        var started: [InstanceRecord] = []
        do {
            for _ in 0..<count {
                let instance = try launcher.start()
                started.append(instance)
                try await traffic.add(BackendServer(name: instance.id, port: instance.port))
            }
            try await launcher.waitHealthy(started, traffic: traffic, redactor: redactor, log: log)
            try await traffic.setWeights(Dictionary(uniqueKeysWithValues: started.map { ($0.id, weight) }))
            return started
        } catch {
            for instance in started { await discard(instance) }
            throw error
        }
    }
}
