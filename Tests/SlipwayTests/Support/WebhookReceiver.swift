import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `Tests/Fixtures/webhook-receiver.py` running for one test: an HTTP receiver in Python that
/// checks Slipway's HMAC signatures with Python's own `hmac`, as a Flux `generic-hmac`
/// receiver does. `with` stops it whether the test passes or fails.
struct WebhookReceiver {
    struct Request: Decodable {
        let n: Int
        let at: Double
        let verified: Bool
        let event: [String: JSONValue]?

        var kind: String? { event?["kind"]?.text }
    }

    let port: Int
    let pid: pid_t
    let requests: URL

    static func with<T>(in root: URL, key: String, failFirst: Int = 0, delay: Double = 0,
                        _ body: (WebhookReceiver) async throws -> T) async throws -> T {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/webhook-receiver.py")
        let name = "receiver-\(UUID().uuidString.prefix(6))"
        let output = root.appendingPathComponent("\(name).out"), requests = root.appendingPathComponent("\(name).jsonl")
        let pid = try Command.background(["/usr/bin/python3", script.path, key, requests.path, "\(failFirst)", "\(delay)"], log: output)
        defer {
            kill(pid, SIGKILL)
            waitpid(pid, nil, 0)
        }
        var port: Int?
        _ = await eventually(within: 10) {
            port = (try? String(contentsOf: output, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            return port != nil
        }
        guard let port else { throw TestFailure("the webhook receiver did not start: \((try? String(contentsOf: output, encoding: .utf8)) ?? "")") }
        return try await body(WebhookReceiver(port: port, pid: pid, requests: requests))
    }

    var url: String { "http://127.0.0.1:\(port)/hook" }

    /// Every request so far, in the order it arrived.
    func received() -> [Request] {
        let text = (try? String(contentsOf: requests, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
    }
}

/// Any JSON value, for reading what a receiver got without a schema.
enum JSONValue: Decodable {
    case string(String), number(Double), bool(Bool), object([String: JSONValue]), array([JSONValue]), null

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode([String: JSONValue].self) { self = .object(value) }
        else { self = .array(try container.decode([JSONValue].self)) }
    }

    var text: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }
}
