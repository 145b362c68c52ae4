"""What leaves the app: timelines (EDL, FCPXML, OTIO) and cut MP4s, all from one frame model."""
