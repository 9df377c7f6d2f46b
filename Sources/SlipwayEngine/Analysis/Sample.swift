public import SlipwayTraffic
import SlipwayHost

/// Traffic one set of instances (canary or baseline) served during an analysis window.
public struct Sample: Sendable, Codable, Hashable {
    public var requests: Int
    public var errors: Int
    /// Mean response time in milliseconds: HAProxy's per-server `rtime` (average over its last
    /// 1,024 requests), weighted by each server's requests in the window.
    public var responseMilliseconds: Double
    /// Instances of the set whose health check is failing.
    public var unhealthy: [String]

    public init(requests: Int, errors: Int, responseMilliseconds: Double, unhealthy: [String] = []) {
        self.requests = requests
        self.errors = errors
        self.responseMilliseconds = responseMilliseconds
        self.unhealthy = unhealthy
    }

    public static let empty = Sample(requests: 0, errors: 0, responseMilliseconds: 0)

    /// Share of requests answered with a 5xx, 0…1.
    public var errorRate: Double { requests == 0 ? 0 : Double(errors) / Double(requests) }

    /// What `servers` served between two `show stat` readings.
    public static func between(_ before: [ServerStats], _ after: [ServerStats], servers: Set<String>) -> Sample {
        let start = Dictionary(before.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var sample = Sample.empty
        var weightedTime = 0.0
        for server in after where servers.contains(server.name) {
            let requests = max(0, server.responses - (start[server.name]?.responses ?? 0))
            sample.requests += requests
            sample.errors += max(0, server.serverErrors - (start[server.name]?.serverErrors ?? 0))
            weightedTime += Double(requests * server.responseTimeMilliseconds)
            if server.health != .up && server.health != .draining { sample.unhealthy.append(server.name) }
        }
        sample.responseMilliseconds = sample.requests == 0 ? 0 : weightedTime / Double(sample.requests)
        return sample
    }

    /// Two windows as one.
    public func adding(_ other: Sample) -> Sample {
        let requests = self.requests + other.requests
        let time = requests == 0 ? 0
            : (responseMilliseconds * Double(self.requests) + other.responseMilliseconds * Double(other.requests)) / Double(requests)
        return Sample(requests: requests, errors: errors + other.errors, responseMilliseconds: time,
                      unhealthy: Array(Set(unhealthy + other.unhealthy)).sorted())
    }
}

extension Sample {
    /// What `instances` have served since they were added to the balancer: the pre-deploy
    /// baseline a post-deploy observation is judged against. Nil when there were none.
    static func lifetime(of instances: [InstanceRecord], in stats: [ServerStats]) -> Sample? {
        guard !instances.isEmpty else { return nil }
        let sample = between([], stats, servers: Set(instances.map(\.id)))
        return sample.requests > 0 ? sample : nil
    }
}
