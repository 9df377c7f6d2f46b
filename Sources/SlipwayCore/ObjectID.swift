/// A git object id (SHA-1), held as its 40-character lowercase hex form. Shared by the git
/// wrapper, records and the engine so that an id is checked once, where it enters.
public struct ObjectID: Hashable, Sendable, TextCodable {
    public let hex: String

    /// Accepts a full 40-character hex id; nil otherwise.
    public init?(hex: String) {
        let lower = hex.lowercased()
        guard lower.utf8.count == 40, lower.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { return nil }
        self.hex = lower
    }

    public init?(text: String) { self.init(hex: text) }

    /// From the 20 raw bytes of an id (as tree objects and libgit2 hold them).
    public init(bytes: UnsafePointer<UInt8>) {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(40)
        for byte in UnsafeBufferPointer(start: bytes, count: 20) {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        self.hex = String(decoding: text, as: UTF8.self)
    }

    /// The first seven characters, as `git log --oneline` shows them.
    public var short: String { String(hex.prefix(7)) }
    public var description: String { hex }
}
