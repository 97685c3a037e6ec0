import { useStore, type ReactFlowState } from "@xyflow/react";
import { memo } from "react";

const GAP = 20;
const transformOf = (s: ReactFlowState) => s.transform;

/**
 * The canvas's dot grid as one composited layer that a pan only translates (by the pan modulo
 * one grid step), so panning repaints nothing. xyflow's own <Background> re-rasterises an SVG
 * pattern over the whole viewport on every pan frame, which cost about 9 ms a frame in
 * headless Chromium (bench/editor.py); a zoom changes the grid size and repaints once.
 */
export const DotGrid = memo(function DotGrid() {
  const [x, y, zoom] = useStore(transformOf);
  const gap = GAP * zoom;
  const offsetX = (((x % gap) + gap) % gap) - gap;
  const offsetY = (((y % gap) + gap) % gap) - gap;
  const dot = Math.max(0.5, Math.min(1.5, zoom));
  return (
    <div
      className="plait-dot-grid"
      aria-hidden="true"
      data-testid="dot-grid"
      style={{
        width: `calc(100% + ${2 * gap}px)`,
        height: `calc(100% + ${2 * gap}px)`,
        backgroundSize: `${gap}px ${gap}px`,
        backgroundImage: `radial-gradient(circle at ${gap / 2}px ${gap / 2}px, var(--grid-dot) ${dot}px, transparent ${dot + 0.5}px)`,
        transform: `translate3d(${offsetX}px, ${offsetY}px, 0)`,
      }}
    />
  );
});
