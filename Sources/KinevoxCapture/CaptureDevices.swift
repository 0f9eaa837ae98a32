import CALSA

/// An ALSA PCM that can capture: its name (for `[capture] device`) and ALSA's one-line description.
public struct CaptureDeviceName: Equatable, Sendable {
    public var name: String
    public var description: String
}

/// Lists the ALSA PCMs whose hints say they capture (ALSA's `snd_device_name_hint`). Any thread.
public func captureDeviceNames() -> [CaptureDeviceName] {
    var hints: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    guard snd_device_name_hint(-1, "pcm", &hints) >= 0, let hints else { return [] }
    defer { snd_device_name_free_hint(hints) }
    func hint(_ entry: UnsafeMutableRawPointer, _ id: String) -> String? {
        guard let text = snd_device_name_get_hint(entry, id) else { return nil }
        defer { free(text) }
        return String(cString: text)
    }
    var devices: [CaptureDeviceName] = []
    var cursor = hints
    while let entry = cursor.pointee {
        defer { cursor += 1 }
        guard let name = hint(entry, "NAME") else { continue }
        let direction = hint(entry, "IOID")
        guard direction == nil || direction == "Input" else { continue }
        let description = (hint(entry, "DESC") ?? "").split(separator: "\n").map(String.init).joined(separator: ", ")
        devices.append(CaptureDeviceName(name: name, description: description))
    }
    return devices
}
