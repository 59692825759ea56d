import { LabIcon } from '@jupyterlab/ui-components';

/** The Data Lake's icon: a lake of three waves under a cloud of data. */
export const dataLakeIcon = new LabIcon({
  name: 'dlaas:data-lake',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <ellipse cx="12" cy="5" rx="7" ry="2.6"/>
    <path d="M5 7.4v3.2c0 1.4 3.1 2.6 7 2.6s7-1.2 7-2.6V7.4c-1.5 1.1-4.1 1.8-7 1.8s-5.5-.7-7-1.8z"/>
    <path d="M2 16.2c1.7 0 1.7 1.3 3.3 1.3s1.7-1.3 3.4-1.3 1.7 1.3 3.3 1.3 1.7-1.3 3.3-1.3 1.7 1.3 3.4 1.3 1.6-1.3 3.3-1.3v1.8c-1.7 0-1.7 1.3-3.3 1.3s-1.7-1.3-3.4-1.3-1.7 1.3-3.3 1.3-1.7-1.3-3.3-1.3-1.7 1.3-3.4 1.3S3.7 18 2 18z"/>
    <path d="M2 20.2c1.7 0 1.7 1.3 3.3 1.3s1.7-1.3 3.4-1.3 1.7 1.3 3.3 1.3 1.7-1.3 3.3-1.3 1.7 1.3 3.4 1.3 1.6-1.3 3.3-1.3V22c-1.7 0-1.7 1.3-3.3 1.3S18.4 22 16.7 22s-1.7 1.3-3.4 1.3S11.7 22 10 22s-1.7 1.3-3.3 1.3S5 22 3.3 22 2 22 2 22z"/>
  </g>
</svg>`
});

/** A dataset: a stack of files. */
export const datasetIcon = new LabIcon({
  name: 'dlaas:dataset',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M8 2h9l4 4v12a1 1 0 0 1-1 1H8a1 1 0 0 1-1-1V3a1 1 0 0 1 1-1zm8 1.5V7h3.5z"/>
    <path d="M4 6h1.5v14.5H17V22H5a1 1 0 0 1-1-1z"/>
  </g>
</svg>`
});
