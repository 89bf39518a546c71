/* Comparing two versions of a process: one bpmn-js viewer (served from /static/vendor,
 * no CDN) per version, the XML fetched from the page's JSON endpoint, and markers on what
 * changed: added (wf-added, newer side), removed (wf-removed, older side), changed
 * (wf-changed, both). An external file: no inline script. */
(function () {
  'use strict';

  var sides = Array.prototype.slice.call(document.querySelectorAll('.compare-side'));
  if (!sides.length) {
    return;
  }

  function ids(side, kind) {
    return (side.getAttribute('data-' + kind) || '').split(/\s+/).filter(Boolean);
  }

  function setUp(side) {
    var canvasBox = side.querySelector('.diagram-canvas');
    var status = side.querySelector('.diagram-status');

    function say(text) {
      status.textContent = text;
      status.hidden = !text;
    }

    if (typeof window.BpmnJS !== 'function' || typeof window.fetch !== 'function') {
      say(side.getAttribute('data-msg-unsupported') || '');
      canvasBox.hidden = true;
      return null;
    }

    var viewer = new window.BpmnJS({ container: canvasBox });

    function mark() {
      var registry = viewer.get('elementRegistry');
      var canvas = viewer.get('canvas');
      (side.getAttribute('data-marks') || '').split(/\s+/).filter(Boolean).forEach(function (kind) {
        ids(side, kind).forEach(function (id) {
          if (registry.get(id)) {
            canvas.addMarker(id, 'wf-' + kind);
          }
        });
      });
    }

    window.fetch(side.getAttribute('data-url'), {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' }
    }).then(function (answer) {
      if (!answer.ok) {
        throw new Error(String(answer.status));
      }
      return answer.json();
    }).then(function (data) {
      return viewer.importXML(data.xml);
    }).then(function () {
      mark();
      viewer.get('canvas').zoom('fit-viewport', 'auto');
      say('');
    }).catch(function () {
      say(side.getAttribute('data-msg-failed') || '');
    });
    return viewer;
  }

  var viewers = sides.map(setUp).filter(Boolean);

  // Fit again when the window changes (a phone turned sideways).
  var refit = null;
  window.addEventListener('resize', function () {
    window.clearTimeout(refit);
    refit = window.setTimeout(function () {
      viewers.forEach(function (viewer) {
        var canvas = viewer.get('canvas');
        canvas.resized();
        canvas.zoom('fit-viewport', 'auto');
      });
    }, 200);
  });
}());
