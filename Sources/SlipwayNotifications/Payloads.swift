import Foundation
import SlipwayCore

/// The bodies Slipway sends: what goes over the wire, built and tested apart from sending.
public enum Payloads {
    /// The generic webhook's JSON: the event's own fields, plus the fields of a Flux event
    /// (`involvedObject`, `severity`, `timestamp`, `message`, `reason`, `metadata`,
    /// `reportingController`) so that receivers written for Flux read it too. The free text of a
    /// failure is `detail`: Flux's `reason` is a word (`RolledBack`).
    public static func webhook(_ event: DeploymentEvent) -> [UInt8] {
        var metadata = ["service": event.service, "version": event.version, "deployment": event.deployment.rawValue,
                        "commit": event.commit.hex, "event": event.kind.rawValue]
        if let previous = event.previousVersion { metadata["previousVersion"] = previous }
        let flux = Flux(involvedObject: .init(kind: "Environment", name: event.environment.rawValue), severity: event.severity,
                        timestamp: event.time, reason: event.fluxReason, metadata: metadata)
        return encode(Body(event: event, flux: flux))
    }

    /// `{"text": …}`, what Slack's incoming webhooks, Mattermost and Rocket.Chat take.
    public static func slack(_ event: DeploymentEvent) -> [UInt8] {
        var lines = [(event.severity == "error" ? ":x: " : ":white_check_mark: ") + event.message]
        if let checklist = event.checklist, !checklist.isEmpty { lines += checklist.map { "• \($0)" } }
        if let approve = event.approve { lines.append("Approve with `\(approve)`") }
        if let evidence = event.evidence { lines.append(evidence) }
        if let record = event.record { lines.append("Record: `\(record)`") }
        return encode(["text": slackEscaped(lines.joined(separator: "\n")), "username": "Slipway"])
    }

    /// `&`, `<` and `>` as Slack asks: text from a reason (a Prometheus error, a commit subject)
    /// never becomes a mention or a link.
    static func slackEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// `sha256=<hex HMAC-SHA256 of body>`: the `X-Signature` header of Flux's `generic-hmac`.
    public static func signature(of body: [UInt8], key: String) -> String {
        "sha256=" + SHA256.hex(SHA256.hmac(key: Array(key.utf8), message: body))
    }

    private struct Flux: Encodable {
        struct Object: Encodable {
            let kind: String
            let name: String
        }
        let involvedObject: Object
        let severity: String
        let timestamp: Date
        let reason: String
        let metadata: [String: String]
        let reportingController = "slipway"
    }

    private struct Body: Encodable {
        let event: DeploymentEvent
        let flux: Flux

        func encode(to encoder: any Encoder) throws {
            try event.encode(to: encoder)
            try flux.encode(to: encoder)
        }
    }

    private static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        // RFC 3339 to the millisecond, as records write times (a receiver can tell how late an event came).
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.isoMilliseconds(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(value)) ?? Data("{}".utf8))
    }
}
