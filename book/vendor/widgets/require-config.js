// emocirc: make RequireJS resolve the widget manager's assets (its icon fonts)
// next to embed-amd.js in _static/widgets/, not next to the page, so that the
// book renders widgets offline from any folder depth. Loaded between
// require.js and embed-amd.js (nb_ipywidgets_js in _config.yml).
(function () {
  var here = document.currentScript.src.replace(/[^/]*$/, "").replace(/\/$/, "");
  require.config({
    paths: {
      "@jupyter-widgets/html-manager": here + "/html-manager",
      "@jupyter-widgets/html-manager/dist": here,
    },
  });
})();
