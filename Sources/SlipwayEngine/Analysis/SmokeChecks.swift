import SlipwayManifest
import SlipwayHost

/// `gates.smoke`: HTTP requests that must answer with the expected status, sent to each new
/// instance directly (before it takes traffic and at every analysis) and to the front.
struct SmokeChecks: Sendable {
    let checks: [SmokeCheck]
    let timeout: Duration

    /// The first failure on any of `ports`, nil when every check passes.
    func failure(host: String = "127.0.0.1", ports: [(name: String, port: Int)]) async -> String? {
        for (name, port) in ports {
            for check in checks {
                let answer: String
                do {
                    let response = try await HTTPProbe.get(host: host, port: port, path: check.http.path, timeout: timeout)
                    let bodyOK = check.http.contains.map { response.body.contains($0) } ?? true
                    if response.status == check.http.expect && bodyOK { continue }
                    answer = response.status == check.http.expect
                        ? "answered without \"\(check.http.contains ?? "")\" in its body" : "answered \(response.status)"
                } catch {
                    answer = "\(ErrorText.sentence(error))"
                }
                return "smoke check \(check.name): GET \(check.http.path) on \(name) \(answer), expected \(check.http.expect)"
            }
        }
        return nil
    }

    /// The first failure on any of `instances`, each asked directly where it runs.
    func failure(of instances: [InstanceRecord]) async -> String? {
        for instance in instances {
            if let failure = await failure(host: instance.reachableAt, ports: [(instance.id, instance.port)]) { return failure }
        }
        return nil
    }

    var isEmpty: Bool { checks.isEmpty }
}
