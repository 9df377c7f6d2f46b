import Foundation

/// The one door to a Prometheus server: an instant query through its HTTP API
/// (`/api/v1/query`), read as one number.
public enum PrometheusQuery {
    /// The query's value now: nil when it has no data (no series, or NaN such as 0/0). A query
    /// that returns several series is an error: which one to judge is the query's to say
    /// (`sum`, `max`, …), not Slipway's to guess.
    public static func value(of query: String, at server: String, timeout: Duration = .seconds(5)) async throws -> Double? {
        // RFC 3986's unreserved characters, ASCII only: everything else is percent-encoded.
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        guard let encoded = query.addingPercentEncoding(withAllowedCharacters: allowed) else { throw PrometheusError("the query cannot be encoded") }
        let base = server.hasSuffix("/") ? String(server.dropLast()) : server
        let response = try await HTTPProbe.get(url: "\(base)/api/v1/query?query=\(encoded)", timeout: timeout)
        return try parse(response.body, status: response.status)
    }

    /// Reads an answer of the query API.
    static func parse(_ body: String, status: Int) throws -> Double? {
        struct Answer: Decodable {
            struct DataPart: Decodable {
                let resultType: String
                let result: Result
            }
            struct Sample: Decodable { let value: [Value] }
            enum Result: Decodable {
                case samples([Sample]), scalar([Value])
                init(from decoder: any Decoder) throws {
                    let container = try decoder.singleValueContainer()
                    if let samples = try? container.decode([Sample].self) { self = .samples(samples) } else { self = .scalar(try container.decode([Value].self)) }
                }
            }
            enum Value: Decodable {
                case time(Double), text(String)
                init(from decoder: any Decoder) throws {
                    let container = try decoder.singleValueContainer()
                    if let number = try? container.decode(Double.self) { self = .time(number) } else { self = .text(try container.decode(String.self)) }
                }
            }
            let status: String
            let data: DataPart?
            let error: String?
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body.utf8)) else {
            throw PrometheusError("HTTP \(status), not an answer of the query API")
        }
        guard answer.status == "success", let data = answer.data else {
            throw PrometheusError("Prometheus refused the query: \(String((answer.error ?? "HTTP \(status)").prefix(200)))")
        }
        let pair: [Answer.Value]
        switch data.result {
        case .scalar(let value): pair = value
        case .samples(let samples):
            guard samples.count <= 1 else {
                throw PrometheusError("the query returns \(samples.count) series; aggregate it (sum, max, …) to one")
            }
            guard let sample = samples.first else { return nil }
            pair = sample.value
        }
        guard pair.count == 2, case .text(let text) = pair[1], let value = Double(text) else {
            throw PrometheusError("a \(data.resultType) result without a value")
        }
        return value.isFinite ? value : nil
    }
}

struct PrometheusError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
