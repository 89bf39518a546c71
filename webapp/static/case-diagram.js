/* The case page's diagram: the bpmn-js viewer (served from /static/vendor, no CDN) draws
 * the case's process and each process it calls, marking the elements the case has passed
 * (wf-done) and where it stands now (wf-current). An external file: no inline script. */
(function () {
  'use strict';

  var box = document.getElementById('case-diagram');
  if (!box) {
    return;
  }
  var canvasBox = box.querySelector('.diagram-canvas');
  var status = box.querySelector('.diagram-status');
  var tabs = Array.prototype.slice.call(box.querySelectorAll('[data-process]'));
  // The page's words, translated by the page (data-msg-*): this file holds none.
  var words = box.dataset;

  function message(key, values) {
    var text = words[key] || '';
    Object.keys(values || {}).forEach(function (name) {
      text = text.split('{' + name + '}').join(String(values[name]));
    });
    return text;
  }

  function say(text) {
    status.textContent = text;
    status.hidden = !text;
  }

  if (typeof window.BpmnJS !== 'function' || typeof window.fetch !== 'function') {
    say(message('msgUnsupported'));
    canvasBox.hidden = true;
    return;
  }

  var viewer = new window.BpmnJS({ container: canvasBox });
  var diagrams = {};
  var shown = null;

  function mark(ids, marker) {
    var registry = viewer.get('elementRegistry');
    var canvas = viewer.get('canvas');
    (ids || []).forEach(function (id) {
      if (registry.get(id)) {
        canvas.addMarker(id, marker);
      }
    });
  }

  function markCallActivities() {
    var registry = viewer.get('elementRegistry');
    var canvas = viewer.get('canvas');
    registry.filter(function (element) {
      var bo = element.businessObject;
      return bo && bo.$type === 'bpmn:CallActivity' && diagrams[bo.calledElement];
    }).forEach(function (element) {
      canvas.addMarker(element.id, 'wf-calls');
    });
  }

  function show(processId) {
    var diagram = diagrams[processId];
    if (!diagram || processId === shown) {
      return;
    }
    shown = processId;
    tabs.forEach(function (tab) {
      tab.setAttribute('aria-selected', tab.dataset.process === processId ? 'true' : 'false');
    });
    say(message('msgLoading'));
    viewer.importXML(diagram.xml).then(function () {
      mark(diagram.done, 'wf-done');
      mark(diagram.current, 'wf-current');
      markCallActivities();
      viewer.get('canvas').zoom('fit-viewport', 'auto');
      say('');
    }).catch(function () {
      say(message('msgBroken', { name: diagram.name || processId }));
    });
  }

  tabs.forEach(function (tab) {
    tab.addEventListener('click', function () {
      show(tab.dataset.process);
    });
  });

  // Clicking a call activity (入户核查, 公示, 逐级审批 ...) opens the process it calls.
  viewer.get('eventBus').on('element.click', function (event) {
    var bo = event.element && event.element.businessObject;
    if (bo && bo.$type === 'bpmn:CallActivity' && diagrams[bo.calledElement]) {
      show(bo.calledElement);
    }
  });

  // Fit again when the window changes (a phone turned sideways).
  var refit = null;
  window.addEventListener('resize', function () {
    window.clearTimeout(refit);
    refit = window.setTimeout(function () {
      if (shown) {
        var canvas = viewer.get('canvas');
        canvas.resized();
        canvas.zoom('fit-viewport', 'auto');
      }
    }, 200);
  });

  window.fetch(box.dataset.url, {
    credentials: 'same-origin',
    headers: { Accept: 'application/json' }
  }).then(function (answer) {
    if (!answer.ok) {
      throw new Error(String(answer.status));
    }
    return answer.json();
  }).then(function (data) {
    diagrams = data;
    var first = tabs.length ? tabs[0].dataset.process : Object.keys(data)[0];
    show(first);
  }).catch(function () {
    say(message('msgFailed'));
  });
}());
