import Foundation

/// Byte counts as people read them: `512 MiB`, `1.5 GiB`.
public enum ByteCount {
    public static func text(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes), index = 0
        while abs(value) >= 1024, index < units.count - 1 { (value, index) = (value / 1024, index + 1) }
        let text = String(format: "%.1f", value)
        return index == 0 ? "\(bytes) B" : "\(text.hasSuffix(".0") ? String(text.dropLast(2)) : text) \(units[index])"
    }
}
