import Foundation
public import SlipwayCore
import SlipwayHost

/// A channel ready to deliver: its name, the events it takes, and one delivery attempt.
public struct Channel: Sendable {
    public let name: String
    public let events: Set<EventKind>
    /// One attempt; throws `DeliveryFailure` (with words fit for a record) when it did not land.
    public let attempt: @Sendable (DeploymentEvent) async throws -> Void

    public init(name: String, events: Set<EventKind>, attempt: @escaping @Sendable (DeploymentEvent) async throws -> Void) {
        self.name = name
        self.events = events
        self.attempt = attempt
    }

    /// The generic webhook: the JSON event, signed with `key` when there is one.
    public static func webhook(name: String, events: Set<EventKind>, url: String, key: String?, timeout: Duration = .seconds(10)) -> Channel {
        Channel(name: name, events: events) { event in
            let body = Payloads.webhook(event)
            var headers = [("Content-Type", "application/json")]
            if let key { headers.append(("X-Signature", Payloads.signature(of: body, key: key))) }
            try await post(body, headers: headers, to: url, masking: [url, key].compactMap { $0 }, timeout: timeout)
        }
    }

    /// A Slack-compatible incoming webhook.
    public static func slack(name: String, events: Set<EventKind>, url: String, timeout: Duration = .seconds(10)) -> Channel {
        Channel(name: name, events: events) { event in
            try await post(Payloads.slack(event), headers: [("Content-Type", "application/json")], to: url, masking: [url], timeout: timeout)
        }
    }

    /// Any answer in 2xx is a delivery; anything else is tried again. What is said of a failure
    /// never holds the URL or the key (`masking`): both are secrets.
    private static func post(_ body: [UInt8], headers: [(String, String)], to url: String, masking: [String], timeout: Duration) async throws {
        let response: HTTPProbe.Response
        do {
            response = try await HTTPProbe.post(url: url, body: body, headers: headers, timeout: timeout)
        } catch {
            var text = ErrorText.sentence(error)
            for secret in masking where !secret.isEmpty { text = text.replacingOccurrences(of: secret, with: "***") }
            throw DeliveryFailure(text)
        }
        guard (200..<300).contains(response.status) else { throw DeliveryFailure("HTTP \(response.status)") }
    }
}

/// Why one attempt did not land, in words fit for a record.
public struct DeliveryFailure: Error, CustomStringConvertible {
    public let description: String
    /// Trying again cannot help (the channel's URL is not set): not retried.
    public let permanent: Bool
    public init(_ description: String, permanent: Bool = false) {
        self.description = description
        self.permanent = permanent
    }
}
