//! The demo's plot is a well-formed SVG with one line per update.

#[allow(dead_code)]
#[path = "../examples/demo.rs"]
mod demo;

#[test]
fn the_demo_plot_is_a_valid_svg() {
    let path = std::env::temp_dir().join(format!("hearsay-demo-plot-{}.svg", std::process::id()));
    let path_text = path.to_string_lossy().to_string();
    let series = vec![
        vec![1, 3, 9, 27, 81, 100],
        vec![1, 2, 5, 40, 100],
        vec![1, 10, 100],
    ];
    demo::plot(&path_text, 100, &series).expect("plot written");
    let svg = std::fs::read_to_string(&path).expect("plot readable");
    let _ = std::fs::remove_file(&path);
    assert!(svg.starts_with("<svg"), "not an SVG document");
    assert!(svg.trim_end().ends_with("</svg>"), "SVG not closed");
    assert!(svg.contains("nodes informed per round"));
    // Three data lines (plus the legend's samples).
    assert!(svg.matches("<polyline").count() >= 3, "missing series");
    // Balanced elements: every opened text element is closed.
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
}
